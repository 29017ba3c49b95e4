// defines: small_config, metrics, train — helpers for the suites that run the Trainer in-process.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainrt/tasks/tasks.h"
#include "test_util.h"
#include "trainrt/config/load.h"
#include "trainrt/train/trainer.h"

namespace trainrt::testing {

// An MLP on a write_idx_dataset set: 3 epochs of batch 16, a train line every step, 1 thread.
inline config::TrainConfig small_config(const std::string& data_dir, std::vector<std::string> extra = {}) {
  std::vector<std::string> overrides = {
      "data.dir=" + data_dir, "data.batch_size=16", "model.name=mlp", "model.mlp.hidden=32",
      "optimizer.lr=0.05",    "train.epochs=3",     "train.log_every_steps=1", "runtime.threads=1"};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  return config::resolve_config(config::parse_config_text("seed: 5", "test"), overrides, "test");
}

// The metrics.jsonl lines of `split` in `run_dir`.
inline std::vector<nlohmann::json> metrics(const std::string& run_dir, const std::string& split) {
  std::vector<nlohmann::json> lines;
  for (const auto& line : read_lines(run_dir + "/metrics.jsonl")) {
    auto j = nlohmann::json::parse(line);
    if (j["split"] == split) lines.push_back(j);
  }
  return lines;
}

// Trains `config` into `run_dir` quietly.
inline train::TrainResult train(const config::TrainConfig& config, const std::string& run_dir,
                                const std::string& resume = "never") {
  std::FILE* quiet = std::fopen("/dev/null", "w");
  train::TrainerOptions options;
  options.run_dir = run_dir;
  options.progress_out = quiet;
  options.resume = resume;
  train::Trainer trainer(config, tasks::make_task(config), options);
  train::TrainResult result = trainer.run();
  std::fclose(quiet);
  return result;
}

}  // namespace trainrt::testing
