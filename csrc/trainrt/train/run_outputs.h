// defines: RunOutputs
//
// Where a run's reports go: rank 0's metrics.jsonl and TensorBoard event files in the run
// directory, each rank's own TensorBoard scalars (observe.per_rank_scalars), and the progress
// display (only rank 0 prints). Every metrics.jsonl line is also a TensorBoard event with tags
// "SPLIT/NAME", so a metric has the same name in both.
//
// Note [a report lost is not a run lost]: a metrics.jsonl line or TensorBoard event that cannot be
// written (a full disk) is reported once, naming the file and the system's reason, and training goes
// on: the log line still carries each interval's metrics, and checkpoints follow their own policy
// (checkpoint.on_error). metrics.jsonl tries each later line again (it holds whole lines only, and
// fills on once there is room); the event files stop at their first error.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "trainrt/config/trainrt.pb.h"
#include "trainrt/obs/event_writer.h"
#include "trainrt/obs/metrics_log.h"
#include "trainrt/obs/named_values.h"
#include "trainrt/obs/progress.h"

namespace trainrt::train {

class RunOutputs {
 public:
  struct Options {
    std::string run_dir;
    int rank = 0;
    std::FILE* progress_out = stdout;  // rank 0's display
    bool interactive = false;
    int64_t resumed_step = -1;         // metrics.jsonl keeps the lines up to it
  };
  // Rank 0 creates the run directory and writes the resolved config into it. `notes` receives
  // what the header should say (TensorBoard missing from this build).
  RunOutputs(const config::TrainConfig& config, Options options, std::vector<std::string>& notes);

  obs::Progress& progress() { return *progress_; }
  // One metrics.jsonl line and one TensorBoard event of SPLIT/NAME tags (rank 0).
  // `labels` (text values) go to metrics.jsonl only. A write that fails is reported, not thrown
  // (Note [a report lost is not a run lost]).
  void write(const std::string& split, int64_t step, int64_t epoch, const obs::NamedValues& values,
             const obs::MetricsLog::Labels& labels = {});
  // This rank's own scalars, as rank/NAME (observe.per_rank_scalars).
  void write_rank(int64_t step, const obs::NamedValues& values);
  // Blocks until the event files hold everything written.
  void flush();

 private:
  std::unique_ptr<obs::Progress> progress_;
  std::unique_ptr<obs::MetricsLog> metrics_;       // rank 0
  std::unique_ptr<obs::EventWriter> events_;       // rank 0's TensorBoard scalars
  std::unique_ptr<obs::EventWriter> rank_events_;  // this rank's own
  // Shows `error` once per output (`reported`): Note [a report lost is not a run lost].
  void report_lost_lines(const std::string& error, bool& reported);

  bool metrics_failure_reported_ = false;
  bool events_failure_reported_ = false;
};

}  // namespace trainrt::train
