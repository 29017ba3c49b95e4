// defines: Image, decode_image, resize_bilinear
//
// Decoding JPEG (libjpeg-turbo) and PNG (libpng) files into 8-bit pixels, and resizing them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace trainrt::data {

struct Image {
  int64_t height = 0, width = 0, channels = 0;  // channels: 1 (grey) or 3 (RGB)
  std::vector<uint8_t> pixels;                  // height x width x channels, row-major (HWC)
};

// Decodes a JPEG or PNG (told apart by their signatures) into `channels` channels (1 or 3),
// converting grey/RGB/palette/alpha/16-bit as needed. Throws trainrt::Error naming `path` (used
// for messages only) if the data is not a valid image of either kind.
Image decode_image(const std::string& bytes, const std::string& path, int channels);

// Bilinear resize (half-pixel centres, like OpenCV's INTER_LINEAR and PyTorch's
// align_corners=False) into CHW order, for copying straight into a sample tensor.
void resize_bilinear_to_chw(const Image& image, int64_t height, int64_t width, uint8_t* out);

}  // namespace trainrt::data
