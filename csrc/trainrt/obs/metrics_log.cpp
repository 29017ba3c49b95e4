#include "trainrt/obs/metrics_log.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "trainrt/core/error.h"

namespace trainrt::obs {

MetricsLog::MetricsLog(const std::string& path) : path_(path), file_(std::fopen(path.c_str(), "w")) {
  if (file_ == nullptr) throw IoError(with_errno(fmt::format("cannot create '{}'", path)));
}

MetricsLog::~MetricsLog() { std::fclose(file_); }

void MetricsLog::write(const std::string& split, int64_t step, int64_t epoch,
                       const Values& values) {
  nlohmann::ordered_json line;
  line["split"] = split;
  line["step"] = step;
  line["epoch"] = epoch;
  for (const auto& [key, value] : values) line[key] = value;
  const std::string text = line.dump() + "\n";
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size() || std::fflush(file_) != 0) {
    throw IoError(with_errno(fmt::format("cannot write to '{}'", path_)));
  }
}

}  // namespace trainrt::obs
