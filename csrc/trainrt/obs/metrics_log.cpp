#include "trainrt/obs/metrics_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
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

MetricsLog::MetricsLog(const std::string& path, int64_t resume_step) : path_(path) {
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
  // Not O_APPEND: each line goes at the end of the last whole one (pwrite), over a torn one's bytes.
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (resume_step >= 0 ? 0 : O_TRUNC), 0644);
  if (fd_ < 0) throw IoError(with_errno(fmt::format("cannot create '{}'", path)));
  whole_bytes_ = std::max<int64_t>(::lseek(fd_, 0, SEEK_END), 0);
}

MetricsLog::~MetricsLog() { ::close(fd_); }

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
  for (size_t written = 0; written < text.size();) {
    const ssize_t n = ::pwrite(fd_, text.data() + written, text.size() - written, whole_bytes_ + written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string failure = with_errno(fmt::format("cannot write to '{}'", path_));
      // The part that fitted is taken back, so that the file ends with a whole line.
      [[maybe_unused]] const int taken_back = written > 0 ? ::ftruncate(fd_, whole_bytes_) : 0;
      throw IoError(failure);
    }
    written += static_cast<size_t>(n);
  }
  whole_bytes_ += static_cast<int64_t>(text.size());
}

}  // namespace trainrt::obs
