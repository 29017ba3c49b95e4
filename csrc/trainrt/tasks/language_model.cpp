#include "trainrt/tasks/language_model.h"

#include "trainrt/data/tokens.h"

namespace trainrt::tasks {

LanguageModelTask::LanguageModelTask(const config::TrainConfig& config)
    : context_(config.model().gpt().context()) {
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
