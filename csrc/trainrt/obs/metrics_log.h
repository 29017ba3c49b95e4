// defines: MetricsLog
//
// metrics.jsonl: one JSON object per line, e.g.
//   {"split":"train","step":50,"epoch":0,"loss":0.61,"lr":0.05,"samples_per_sec":4100,...}
// Each line is flushed as it is written, so a crashed run keeps every line before the crash and
// `tail -f` shows progress.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace trainrt::obs {

class MetricsLog {
 public:
  using Values = std::vector<std::pair<std::string, double>>;

  // Opens (creates or truncates) `path`; throws trainrt::Error naming it on failure.
  explicit MetricsLog(const std::string& path);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  // Writes {"split": split, "step": step, "epoch": epoch, values...} as one line.
  void write(const std::string& split, int64_t step, int64_t epoch, const Values& values);

 private:
  std::string path_;
  std::FILE* file_;
};

}  // namespace trainrt::obs
