// defines: Progress, format_duration
//
// What a person watching a run sees. On a terminal: one progress bar line, redrawn in place at most
// ten times a second (epoch, step, loss, throughput, ETA). In a pipe or a log file: a plain line
// every `log_every_steps` steps with the interval's metrics under their metrics.jsonl names, which
// greps and tails well.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include "trainrt/obs/named_values.h"

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
};

class Progress {
 public:
  // `interactive`: draw a bar (stdout is a terminal); else print plain lines. A null `out` prints
  // nothing (the ranks other than 0 of a data-parallel job).
  Progress(std::FILE* out, bool interactive);

  // Called every step; redraws the bar when interactive and due.
  void step(const ProgressState& state);
  // Called every log_every_steps steps; prints a plain line when not interactive: where the run is,
  // then `metrics` ("epoch 1/10 step 50/4680 eta 3m05s | loss 0.5012 lr 0.1 ...").
  void log(const ProgressState& state, const NamedValues& metrics);
  // A message on its own line (the bar, if any, is redrawn below it on the next step).
  void message(const std::string& text);
  // Ends the bar's line.
  void finish();

 private:
  // The estimated time left, from this process's own pace.
  double eta_seconds(const ProgressState& state) const;

  std::FILE* out_;
  bool interactive_;
  bool bar_drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

// "42s", "3m05s", "1h02m".
std::string format_duration(double seconds);

}  // namespace trainrt::obs
