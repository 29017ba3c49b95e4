// The CSV reader. Input: one byte of options (header, label column, class count), then the file.
#include "fuzz_input.h"
#include "trainrt/data/csv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace trainrt;
  if (size < 1) return 0;
  const uint8_t options = data[0];
  const std::string path = fuzz::write_input(data + 1, size - 1, "data.csv");
  fuzz::expect_clean_failure([&] {
    data::read_csv(path, /*label_column=*/(options >> 1) & 3, /*header=*/options & 1,
                   /*num_classes=*/(options & 8) ? 10 : 0);
  });
  return 0;
}
