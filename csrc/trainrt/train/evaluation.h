// defines: EvalOptions, evaluate, eval_metrics, eval_line
//
// Evaluation: the eval set through the model (no gradients, eval mode, autocast as in training),
// each rank its slice of the set, the totals summed over ranks (collective); and its report - one
// list of named metrics for metrics.jsonl (split "eval"), TensorBoard ("eval/NAME") and the line
// a person reads.
#pragma once

#include <cstdint>
#include <string>

#include "trainrt/data/device_feeder.h"
#include "trainrt/dist/communicator.h"
#include "trainrt/obs/named_values.h"
#include "trainrt/train/results.h"
#include "trainrt/train/task.h"

namespace trainrt::train {

struct EvalOptions {
  torch::DeviceType device_type = torch::kCPU;
  bool bfloat16 = false;
  dist::Communicator* communicator = nullptr;  // null: a single process
};

// One pass over `feeder`'s epoch 0; leaves the model in training mode.
EvalResult evaluate(models::Model& model, const Task& task, data::DeviceFeeder& feeder,
                    const EvalOptions& options);

// The evaluation's metrics: loss, accuracy, samples, eval_seconds, epoch_seconds (when > 0: the
// evaluation closing an epoch), perplexity (language models).
obs::NamedValues eval_metrics(const EvalResult& result, double eval_seconds, double epoch_seconds,
                         bool language);

// "eval  epoch 2 step 40: loss 0.3012 accuracy 0.8912" (a language model adds its perplexity).
std::string eval_line(int64_t epoch, int64_t step, const EvalResult& result, bool language);

}  // namespace trainrt::train
