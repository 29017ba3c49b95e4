#include "trainrt/data/image_decode.h"

#include <csetjmp>
#include <cstdio>
#include <cstring>

// jpeglib.h needs FILE and size_t declared first.
#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "trainrt/core/error.h"

namespace trainrt::data {
namespace {

// The most pixels an image may have (Pillow's decompression-bomb limit): a few bytes of header can
// announce 65535 x 65535 pixels, which would be allocated before the data proves short.
constexpr uint64_t kMaxPixels = 178956970;

// The error for an image over that limit (the decoder's state freed by the caller first).
Error too_many_pixels(uint64_t width, uint64_t height, const std::string& path) {
  return DataError(fmt::format("'{}': {} x {} pixels is more than trainrt decodes ({} pixels)", path,
                               width, height, kMaxPixels));
}

// libjpeg reports errors through a callback that must not return: jump back to the decoder.
struct JpegError {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_error_exit(j_common_ptr info) {
  auto* error = reinterpret_cast<JpegError*>(info->err);
  (*info->err->format_message)(info, error->message);
  std::longjmp(error->jump, 1);
}

// Warnings after which the pixels are not the file's: libjpeg goes on past data that is missing or
// cannot be decoded (a file cut short gets grey rows) and only warns. The other warnings (an unknown
// JFIF revision, extra bytes before a marker) leave the pixels as encoded.
bool warning_corrupts_pixels(int code) {
  switch (code) {
    case JWRN_JPEG_EOF:         // "Premature end of JPEG file"
    case JWRN_HIT_MARKER:       // "Corrupt JPEG data: premature end of data segment"
    case JWRN_MUST_RESYNC:      // "Corrupt JPEG data: found marker ... instead of RST"
    case JWRN_HUFF_BAD_CODE:    // "Corrupt JPEG data: bad Huffman code"
    case JWRN_ARITH_BAD_CODE:   // "Corrupt JPEG data: bad arithmetic code"
      return true;
    default:
      return false;
  }
}

// Such a warning is an error here, like any other bad sample: the caller names the file, and the
// loader's data.skip_bad_samples decides whether training goes on without it. The rest are quiet.
void jpeg_emit_message(j_common_ptr info, int level) {
  if (level < 0 && warning_corrupts_pixels(info->err->msg_code)) jpeg_error_exit(info);
}

Image decode_jpeg(const std::string& bytes, const std::string& path, int channels) {
  jpeg_decompress_struct info{};
  JpegError error{};
  info.err = jpeg_std_error(&error.manager);
  error.manager.error_exit = jpeg_error_exit;
  error.manager.emit_message = jpeg_emit_message;
  Image image;
  // Nothing with a destructor may be created between setjmp and a longjmp back to it.
  if (setjmp(error.jump)) {
    jpeg_destroy_decompress(&info);
    throw DataError(fmt::format("'{}': cannot decode JPEG: {}", path, error.message));
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, reinterpret_cast<const unsigned char*>(bytes.data()),
               static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&info, TRUE);
  if (uint64_t{info.image_width} * info.image_height > kMaxPixels) {
    jpeg_destroy_decompress(&info);
    throw too_many_pixels(info.image_width, info.image_height, path);
  }
  info.out_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&info);
  image.height = info.output_height;
  image.width = info.output_width;
  image.channels = info.output_components;
  image.pixels.resize(static_cast<size_t>(image.height * image.width * image.channels));
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = image.pixels.data() + static_cast<size_t>(info.output_scanline) *
                                             static_cast<size_t>(image.width * image.channels);
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return image;
}

Image decode_png(const std::string& bytes, const std::string& path, int channels) {
  // libpng's simplified API converts any PNG (palette, 16-bit, alpha) to the format asked for.
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&png, bytes.data(), bytes.size())) {
    throw DataError(fmt::format("'{}': cannot decode PNG: {}", path, png.message));
  }
  if (uint64_t{png.width} * png.height > kMaxPixels) {
    png_image_free(&png);
    throw too_many_pixels(png.width, png.height, path);
  }
  png.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  Image image;
  image.height = png.height;
  image.width = png.width;
  image.channels = channels;
  image.pixels.resize(PNG_IMAGE_SIZE(png));
  if (!png_image_finish_read(&png, nullptr, image.pixels.data(), 0, nullptr)) {
    const std::string message = png.message;
    png_image_free(&png);
    throw DataError(fmt::format("'{}': cannot decode PNG: {}", path, message));
  }
  return image;
}

}  // namespace

Image decode_image(const std::string& bytes, const std::string& path, int channels) {
  if (channels != 1 && channels != 3) {
    throw DataError(fmt::format("'{}': images decode to 1 or 3 channels, not {}", path, channels));
  }
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) {
    return decode_jpeg(bytes, path, channels);
  }
  if (bytes.size() >= 8 && png_sig_cmp(b, 0, 8) == 0) return decode_png(bytes, path, channels);
  throw DataError(fmt::format("'{}': neither a JPEG nor a PNG file", path));
}

void resize_bilinear_to_chw(const Image& image, int64_t height, int64_t width, uint8_t* out) {
  const int64_t C = image.channels;
  const double sy = static_cast<double>(image.height) / static_cast<double>(height);
  const double sx = static_cast<double>(image.width) / static_cast<double>(width);
  for (int64_t y = 0; y < height; ++y) {
    const double fy = std::max(0.0, (static_cast<double>(y) + 0.5) * sy - 0.5);
    const auto y0 = std::min(static_cast<int64_t>(fy), image.height - 1);
    const int64_t y1 = std::min(y0 + 1, image.height - 1);
    const double wy = fy - static_cast<double>(y0);
    for (int64_t x = 0; x < width; ++x) {
      const double fx = std::max(0.0, (static_cast<double>(x) + 0.5) * sx - 0.5);
      const auto x0 = std::min(static_cast<int64_t>(fx), image.width - 1);
      const int64_t x1 = std::min(x0 + 1, image.width - 1);
      const double wx = fx - static_cast<double>(x0);
      for (int64_t c = 0; c < C; ++c) {
        auto at = [&](int64_t yy, int64_t xx) {
          return static_cast<double>(image.pixels[static_cast<size_t>((yy * image.width + xx) * C + c)]);
        };
        const double top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx;
        const double bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx;
        out[(c * height + y) * width + x] =
            static_cast<uint8_t>(std::lround(top * (1 - wy) + bottom * wy));
      }
    }
  }
}

}  // namespace trainrt::data
