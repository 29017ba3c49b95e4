// defines: runs_summary_command
//
// `trainrt runs summary RUN_DIR`: what a run came to, from its metrics.jsonl: steps, the last
// train loss and evaluation, throughput, where a step's time went (means over the run's train
// lines), checkpoints written and what they cost.
#pragma once

#include <string>

namespace trainrt::trainers {

// Prints the summary; returns the exit code. Throws trainrt::Error if the run has no metrics.
int runs_summary_command(const std::string& run_dir);

}  // namespace trainrt::trainers
