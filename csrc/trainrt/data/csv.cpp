#include "trainrt/data/csv.h"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <fstream>

#include <fmt/format.h>
#include <torch/torch.h>

#include "trainrt/core/error.h"

namespace trainrt::data {

CsvTable read_csv(const std::string& path, int label_column, bool header, int64_t num_classes) {
  std::ifstream in(path);
  if (!in) throw DataError(with_errno(fmt::format("cannot open '{}'", path)));
  std::vector<float> features;
  std::vector<int64_t> labels;
  int64_t columns = -1, first_data_line = 0;
  std::string line;
  for (int64_t line_no = 1; std::getline(in, line); ++line_no) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if ((header && line_no == 1) || line.find_first_not_of(" \t") == std::string::npos) continue;
    int64_t column = 0;
    size_t pos = 0;
    while (true) {
      const size_t comma = line.find(',', pos);
      const std::string field =
          line.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      errno = 0;
      char* end = nullptr;
      const double value = std::strtod(field.c_str(), &end);
      const bool only_spaces = end && std::string(end).find_first_not_of(" \t") == std::string::npos;
      if (end == field.c_str() || !only_spaces || errno == ERANGE || !std::isfinite(value)) {
        throw DataError(fmt::format("{}:{}: column {}: '{}' is not a number", path, line_no,
                                    column + 1, field));
      }
      if (column == label_column) {
        // A class index fits an int32 whatever the config says (no cast of a huge double).
        if (value != std::floor(value) || value < 0 || value > INT32_MAX ||
            (num_classes > 0 && value >= static_cast<double>(num_classes))) {
          throw DataError(fmt::format("{}:{}: column {}: label {} is not a class index{}", path,
                                      line_no, column + 1, field,
                                      num_classes > 0 ? fmt::format(" 0..{}", num_classes - 1) : ""));
        }
        labels.push_back(static_cast<int64_t>(value));
      } else if (std::fabs(value) > std::numeric_limits<float>::max()) {
        // Features are float32: a larger value would become infinity without a word.
        throw DataError(fmt::format("{}:{}: column {}: {} is outside float32's range", path,
                                    line_no, column + 1, field));
      } else {
        features.push_back(static_cast<float>(value));
      }
      ++column;
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    if (columns < 0) {
      columns = column;
      first_data_line = line_no;
      if (label_column >= columns) {
        throw DataError(fmt::format("{}:{}: {} columns, but the label column is {}", path, line_no,
                                    columns, label_column + 1));
      }
    } else if (column != columns) {
      throw DataError(fmt::format("{}:{}: {} columns, expected {} (as on line {})", path, line_no,
                                  column, columns, first_data_line));
    }
  }
  if (labels.empty()) throw DataError(fmt::format("'{}': no samples", path));
  const auto n = static_cast<int64_t>(labels.size());
  return {torch::from_blob(features.data(), {n, columns - 1}, torch::kFloat32).clone(),
          torch::from_blob(labels.data(), {n}, torch::kInt64).clone()};
}

}  // namespace trainrt::data
