// The CIFAR-10 binary reader (fixed-size records): the input is test_batch.bin.
#include "fuzz_input.h"
#include "trainrt/data/records.h"

#include <algorithm>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace trainrt;
  const std::string path = fuzz::write_input(data, size, "test_batch.bin");
  fuzz::expect_clean_failure([&] {
    const auto set = data::load_cifar10(fuzz::scratch_dir(), /*train=*/false);
    for (int64_t i = 0; i < std::min<int64_t>(set->size(), 8); ++i) (void)set->get(i);
  });
  return 0;
}
