#include "trainrt/dist/flight_recorder.h"
#include "trainrt/train/evaluation.h"

#include <cmath>

#include <fmt/format.h>

#include "trainrt/core/device.h"
#include "trainrt/dist/rank_reduce.h"

namespace trainrt::train {

EvalResult evaluate(models::Model& model, const Task& task, data::DeviceFeeder& feeder,
                    const EvalOptions& options) {
  torch::NoGradGuard no_grad;
  model.eval();
  double loss_sum = 0;
  int64_t correct = 0;
  int64_t predictions = 0;
  int64_t samples = 0;
  feeder.start_epoch(0);
  while (auto batch = feeder.next()) {
    if (batch->rows == 0) continue;
    AutocastScope autocast(options.device_type, options.bfloat16);
    const TaskOutput out = task.compute(model, *batch, /*count_correct=*/true);
    loss_sum += out.loss.item<double>() * static_cast<double>(batch->rows);
    correct += out.correct;
    predictions += out.predictions > 0 ? out.predictions : batch->rows;
    samples += batch->rows;
  }
  model.train();
  // Each rank evaluated its slice of the set; the totals are the whole set's.
  std::vector<double> totals{loss_sum, static_cast<double>(correct), static_cast<double>(samples),
                             static_cast<double>(predictions)};
  dist::CollectivePurpose purpose("evaluation totals");
  dist::sum_over_ranks(options.communicator, totals);
  EvalResult result;
  result.samples = static_cast<int64_t>(totals[2]);
  if (result.samples > 0) {
    result.loss = totals[0] / totals[2];
    result.accuracy = totals[1] / totals[3];
    if (task.tokens_per_sample() > 0) result.perplexity = std::exp(result.loss);
  }
  return result;
}

obs::NamedValues eval_metrics(const EvalResult& result, double eval_seconds, double epoch_seconds,
                         bool language) {
  obs::NamedValues values{{"loss", result.loss},
                     {"accuracy", result.accuracy},
                     {"samples", static_cast<double>(result.samples)},
                     {"eval_seconds", eval_seconds}};
  if (epoch_seconds > 0) values.push_back({"epoch_seconds", epoch_seconds});
  if (language) values.push_back({"perplexity", result.perplexity});
  return values;
}

std::string eval_line(int64_t epoch, int64_t step, const EvalResult& result, bool language) {
  return fmt::format("eval  epoch {} step {}: loss {:.4f} accuracy {:.4f}{}", epoch + 1, step,
                     result.loss, result.accuracy,
                     language ? fmt::format(" perplexity {:.2f}", result.perplexity) : "");
}

}  // namespace trainrt::train
