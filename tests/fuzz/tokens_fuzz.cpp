// The token-stream reader. Input: one byte of options (token width, context, vocabulary), then
// the file of token ids; every window is read.
#include "fuzz_input.h"
#include "trainrt/data/tokens.h"

#include <algorithm>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace trainrt;
  if (size < 1) return 0;
  const uint8_t options = data[0];
  const std::string path = fuzz::write_input(data + 1, size - 1, "tokens.bin");
  fuzz::expect_clean_failure([&] {
    const data::TokenWindowDataset set(path, (options & 1) ? 4 : 2, /*context=*/1 + ((options >> 1) & 15),
                                       /*vocab_size=*/(options & 32) ? 1000 : 0);
    for (int64_t i = 0; i < std::min<int64_t>(set.size(), 64); ++i) (void)set.get(i);
  });
  return 0;
}
