// defines: CsvTable, read_csv
//
// Comma-separated numbers, one sample per line: one column is the integer class label, the others
// float features. An optional first line of column names is skipped. Errors name the file, line
// and column.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

namespace trainrt::data {

struct CsvTable {
  at::Tensor features;  // float [N, F]
  at::Tensor labels;    // int64 [N]
};

CsvTable read_csv(const std::string& path, int label_column, bool header, int64_t num_classes);

}  // namespace trainrt::data
