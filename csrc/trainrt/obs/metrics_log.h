// defines: MetricsLog
//
// metrics.jsonl: one JSON object per line, e.g.
//   {"split":"train","step":50,"epoch":0,"time":1764500000.125,"loss":0.61,"lr":0.05,...}
// ("time": when the line was written, in seconds since the Unix epoch).
// Each line is written to the file as it comes (one write, no buffer), so a crashed run keeps every
// line before the crash and `tail -f` shows progress. A line that does not fit (a full disk) is taken
// back whole, so the file holds whole lines only and later lines follow it once there is room again.
// A resumed run keeps the lines up to the step it resumes from and continues the file, so that it
// reads as one run.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace trainrt::obs {

class MetricsLog {
 public:
  using Values = std::vector<std::pair<std::string, double>>;
  using Labels = std::vector<std::pair<std::string, std::string>>;

  // Opens (creates or truncates) `path`; with `resume_step` >= 0 keeps the lines of steps up to it
  // (those a killed run wrote after it are dropped, as is a torn last line) and appends. Throws
  // trainrt::Error naming the file on failure.
  explicit MetricsLog(const std::string& path, int64_t resume_step = -1);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  // Writes {"split": split, "step": step, "epoch": epoch, "time": now, values..., labels...} as
  // one line. Throws IoError naming the file and the system's reason if it cannot, the file then
  // as it was before the call.
  void write(const std::string& split, int64_t step, int64_t epoch, const Values& values,
             const Labels& labels = {});

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  int64_t whole_bytes_ = 0;  // the file's size after its last whole line
};

}  // namespace trainrt::obs
