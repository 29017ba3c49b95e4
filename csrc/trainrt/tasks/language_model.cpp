#include "trainrt/tasks/language_model.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "trainrt/core/error.h"
#include "trainrt/data/tokens.h"

namespace trainrt::tasks {
namespace {

// The built-in models that take images [C, H, W]; fed token ids they would fail at the first step
// with a shape error that names neither the model nor the task.
bool takes_images(const std::string& model) { return model == "mlp" || model == "cnn" || model == "resnet"; }

// Every way `config` does not fit the task, checked before any file is read.
void check_fit(const config::TrainConfig& config) {
  std::vector<std::string> problems;
  if (config.data().format() != kTokensFormat) {
    problems.push_back(fmt::format("data.format: '{}' does not fit task 'language_model' (a language model "
                                   "reads \"{}\")", config.data().format(), kTokensFormat));
  }
  if (takes_images(config.model().name())) {
    problems.push_back(fmt::format("model.name: '{}' cannot model language; task \"language_model\" trains "
                                   "\"gpt\" (or a TorchScript or registered model taking token ids)",
                                   config.model().name()));
  }
  if (!problems.empty()) throw ConfigError(fmt::format("{}", fmt::join(problems, "\n  ")));
}

}  // namespace

LanguageModelTask::LanguageModelTask(const config::TrainConfig& config)
    : context_(config.model().gpt().context()) {
  check_fit(config);
  const auto& data = config.data();
  const auto& tokens = data.tokens();
  // data.train_limit / eval_limit keep the first windows of a split.
  auto open = [&](const char* name, int64_t limit) -> std::shared_ptr<const data::Dataset> {
    auto windows = std::make_shared<data::TokenWindowDataset>(data.dir() + "/" + name, tokens.token_bytes(),
                                                              context_, tokens.vocab_size());
    if (limit > 0) return std::make_shared<data::HeadDataset>(windows, limit);
    return windows;
  };
  train_ = open("train.bin", data.train_limit());
  eval_ = open("val.bin", data.eval_limit());
  collator_ = std::make_shared<data::TokenCollator>(context_);
  spec_.input_shape = {context_};
  spec_.num_outputs = tokens.vocab_size();
  spec_.input_dtype = torch::kLong;
}

train::TaskOutput LanguageModelTask::compute(models::Model& model, const data::Batch& batch,
                                             bool count_correct) const {
  const torch::Tensor logits = model.forward(batch.input);  // [rows, context, vocabulary]
  const auto flat_logits = logits.reshape({-1, logits.size(-1)});
  const auto flat_targets = batch.target.reshape({-1});
  train::TaskOutput out;
  out.loss = torch::nn::functional::cross_entropy(flat_logits, flat_targets);
  if (count_correct) {
    out.correct = flat_logits.argmax(1).eq(flat_targets).sum().item<int64_t>();
    out.predictions = flat_targets.numel();
  }
  return out;
}

}  // namespace trainrt::tasks
