// The IDX reader (MNIST's format; plain or gzipped): the input is the file.
#include "fuzz_input.h"
#include "trainrt/data/idx.h"

#include <ATen/core/Tensor.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace trainrt;
  const std::string path = fuzz::write_input(data, size, "data.idx");
  fuzz::expect_clean_failure([&] {
    const at::Tensor tensor = data::read_idx(path);
    // What was read is all there: every element of the tensor can be touched.
    if (tensor.numel() > 0) (void)tensor.flatten().sum();
  });
  return 0;
}
