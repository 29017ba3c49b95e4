// The JPEG/PNG decoder. Input: one byte of options (grey or RGB), then the encoded image; a
// decoded image is resized as the image-folder loader does.
#include "fuzz_input.h"
#include "trainrt/data/image_decode.h"

#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace trainrt;
  if (size < 1) return 0;
  const int channels = (data[0] & 1) ? 3 : 1;
  const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  fuzz::expect_clean_failure([&] {
    const data::Image image = data::decode_image(bytes, "fuzz.img", channels);
    std::vector<uint8_t> resized(static_cast<size_t>(channels) * 8 * 8);
    data::resize_bilinear_to_chw(image, 8, 8, resized.data());
  });
  return 0;
}
