#include "trainrt/obs/metrics_log.h"

#include <chrono>

#include <cstdio>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "trainrt/core/error.h"

namespace trainrt::obs {

namespace {

// The lines of `path` whose step is at most `step` (none if the file does not exist).
std::string lines_through_step(const std::string& path, int64_t step) {
  std::ifstream in(path);
  std::string kept, line;
  while (std::getline(in, line)) {
    const auto parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_object() && parsed.contains("step") && parsed["step"].is_number_integer() &&
        parsed["step"].get<int64_t>() <= step) {
      kept += line + "\n";
    }
  }
  return kept;
}

}  // namespace

MetricsLog::MetricsLog(const std::string& path, int64_t resume_step) : path_(path), file_(nullptr) {
  if (resume_step >= 0) {
    // The kept lines replace the file by a rename: a crash now loses none of them.
    const std::string kept = lines_through_step(path, resume_step);
    const std::string staging = path + ".tmp";
    std::ofstream out(staging, std::ios::trunc);
    out << kept;
    out.close();
    if (!out || std::rename(staging.c_str(), path.c_str()) != 0) {
      throw IoError(with_errno(fmt::format("cannot rewrite '{}'", path)));
    }
  }
  file_ = std::fopen(path.c_str(), resume_step >= 0 ? "a" : "w");
  if (file_ == nullptr) throw IoError(with_errno(fmt::format("cannot create '{}'", path)));
}

MetricsLog::~MetricsLog() { std::fclose(file_); }

void MetricsLog::write(const std::string& split, int64_t step, int64_t epoch,
                       const Values& values, const Labels& labels) {
  nlohmann::ordered_json line;
  line["split"] = split;
  line["step"] = step;
  line["epoch"] = epoch;
  line["time"] = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  for (const auto& [key, value] : values) line[key] = value;
  for (const auto& [key, value] : labels) line[key] = value;
  const std::string text = line.dump() + "\n";
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size() || std::fflush(file_) != 0) {
    throw IoError(with_errno(fmt::format("cannot write to '{}'", path_)));
  }
}

}  // namespace trainrt::obs
