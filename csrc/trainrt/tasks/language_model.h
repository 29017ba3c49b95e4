// defines: LanguageModelTask, kTokensFormat
//
// Next-token prediction on token streams (data.format "tokens": DIR/train.bin and DIR/val.bin,
// written by tools/text_to_tokens.py): windows of model.gpt.context + 1 tokens, the model's logits
// at every position scored against the token that follows (cross-entropy, averaged over the
// tokens). Evaluation reports the loss, its perplexity and the share of tokens predicted exactly.
#pragma once

#include <memory>

#include "trainrt/config/trainrt.pb.h"
#include "trainrt/train/task.h"

namespace trainrt::tasks {

// The one data format this task reads (data.format), and only it.
inline constexpr const char* kTokensFormat = "tokens";

class LanguageModelTask : public train::Task {
 public:
  // Maps the two token files; throws trainrt::Error naming a missing or bad file (a token outside
  // the vocabulary included), or, before reading anything, a data.format or model.name that does
  // not fit the task.
  explicit LanguageModelTask(const config::TrainConfig& config);

  std::shared_ptr<const data::Dataset> train_set() const override { return train_; }
  std::shared_ptr<const data::Dataset> eval_set() const override { return eval_; }
  std::shared_ptr<const data::Collator> train_collator() const override { return collator_; }
  std::shared_ptr<const data::Collator> eval_collator() const override { return collator_; }
  models::ModelSpec model_spec() const override { return spec_; }
  train::TaskOutput compute(models::Model& model, const data::Batch& batch,
                            bool count_correct) const override;
  int64_t tokens_per_sample() const override { return context_; }

 private:
  int64_t context_;
  std::shared_ptr<const data::Dataset> train_, eval_;
  std::shared_ptr<const data::Collator> collator_;
  models::ModelSpec spec_;
};

}  // namespace trainrt::tasks
