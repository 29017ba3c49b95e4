// defines: Progress, format_duration
//
// What a person watching a run sees. On a terminal: one progress bar line, redrawn in place at most
// ten times a second (epoch, step, loss, throughput, ETA). In a pipe or a log file: a plain line
// every `log_every_steps` steps, which greps and tails well.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace trainrt::obs {

struct ProgressState {
  int64_t step = 0;          // steps done
  int64_t start_step = 0;    // the step this process started from (a resumed run's checkpoint)
  int64_t total_steps = 0;
  int64_t epoch = 0;         // 0-based
  int64_t epochs = 0;
  double loss = 0;
  double lr = 0;
  double samples_per_sec = 0;
  // Where a step's time went, e.g. "step 61.2 ms: data 0.1, compute 52.0, comm 1.3, optimizer
  // 7.5, checkpoint 0.0"; printed on plain log lines.
  std::string breakdown;
};

class Progress {
 public:
  // `interactive`: draw a bar (stdout is a terminal); else print plain lines. A null `out` prints
  // nothing (the ranks other than 0 of a data-parallel job).
  Progress(std::FILE* out, bool interactive);

  // Called every step; redraws the bar when interactive and due.
  void step(const ProgressState& state);
  // Called every log_every_steps steps; prints a plain line when not interactive.
  void log(const ProgressState& state);
  // A message on its own line (the bar, if any, is redrawn below it on the next step).
  void message(const std::string& text);
  // Ends the bar's line.
  void finish();

 private:
  std::string summary(const ProgressState& state) const;

  std::FILE* out_;
  bool interactive_;
  bool bar_drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

// "42s", "3m05s", "1h02m".
std::string format_duration(double seconds);

}  // namespace trainrt::obs
