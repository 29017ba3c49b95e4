#include "trainrt/train/run_outputs.h"

#include <filesystem>

#include <fmt/format.h>

#include "trainrt/ckpt/commit.h"
#include "trainrt/config/load.h"
#include "trainrt/core/error.h"

namespace trainrt::train {
namespace {

void make_run_directory(const std::string& path) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) throw IoError(fmt::format("cannot create directory '{}': {}", path, error.message()));
}

obs::NamedValues with_prefix(const std::string& prefix, const obs::NamedValues& values) {
  obs::NamedValues tagged;
  tagged.reserve(values.size());
  for (const auto& [name, value] : values) tagged.emplace_back(prefix + "/" + name, value);
  return tagged;
}

}  // namespace

RunOutputs::RunOutputs(const config::TrainConfig& config, Options options,
                       std::vector<std::string>& notes) {
  const bool primary = options.rank == 0;
  progress_ = std::make_unique<obs::Progress>(primary ? options.progress_out : nullptr,
                                              options.interactive);
  if (primary) {
    make_run_directory(options.run_dir);
    ckpt::replace_file_durably(options.run_dir + "/config.pbtxt", config::config_to_text(config));
    metrics_ = std::make_unique<obs::MetricsLog>(options.run_dir + "/metrics.jsonl",
                                                 options.resumed_step);
    if (config.observe().tensorboard()) {
      if (TRAINRT_WITH_TENSORBOARD) {
        events_ = std::make_unique<obs::EventWriter>(options.run_dir);
      } else {
        notes.push_back("TensorBoard event files are off: this trainrt was built without ISA-L");
      }
    }
  }
  if (config.observe().per_rank_scalars() && TRAINRT_WITH_TENSORBOARD) {
    rank_events_ = std::make_unique<obs::EventWriter>(
        fmt::format("{}/rank_{}", options.run_dir, options.rank));
  }
}

void RunOutputs::write(const std::string& split, int64_t step, int64_t epoch,
                       const obs::NamedValues& values, const obs::MetricsLog::Labels& labels) {
  if (metrics_) {
    try {
      metrics_->write(split, step, epoch, values, labels);
    } catch (const Error& e) {  // the file and the system's reason
      report_lost_lines(e.what(), metrics_failure_reported_);
    }
  }
  if (events_) {
    events_->add_scalars(step, with_prefix(split, values));
    // The writer thread keeps its first error; scalars after it are dropped.
    if (const std::string error = events_->error(); !error.empty()) {
      report_lost_lines(error, events_failure_reported_);
    }
  }
}

void RunOutputs::report_lost_lines(const std::string& error, bool& reported) {
  if (reported) return;
  reported = true;
  progress_->message(fmt::format("warning: {}; training goes on, and the log lines keep the metrics "
                                 "(reported once)", error));
}

void RunOutputs::write_rank(int64_t step, const obs::NamedValues& values) {
  if (rank_events_) rank_events_->add_scalars(step, with_prefix("rank", values));
}

void RunOutputs::flush() {
  if (events_) events_->flush();
}

}  // namespace trainrt::train
