// defines: Task, TaskOutput
//
// What a kind of training job supplies to the generic Trainer: its data (datasets and collators),
// the shape of the model's input and output, and how a batch becomes a loss. The image classifier
// and the language model are two (tasks/, above train/, which knows only this interface).
#pragma once

#include <memory>

#include <torch/torch.h>

#include "trainrt/data/batch.h"
#include "trainrt/data/dataset.h"
#include "trainrt/models/model.h"

namespace trainrt::train {

struct TaskOutput {
  torch::Tensor loss;       // mean over the batch, differentiable
  int64_t correct = 0;      // predictions that matched the target, when asked for
  int64_t predictions = 0;  // what `correct` is out of (0: one per row; a language model: tokens)
};

class Task {
 public:
  virtual ~Task() = default;
  virtual std::shared_ptr<const data::Dataset> train_set() const = 0;
  virtual std::shared_ptr<const data::Dataset> eval_set() const = 0;
  virtual std::shared_ptr<const data::Collator> train_collator() const = 0;
  virtual std::shared_ptr<const data::Collator> eval_collator() const = 0;
  virtual models::ModelSpec model_spec() const = 0;
  // The batch's loss; with `count_correct` (evaluation) also the correct predictions, which a
  // training step does not need and should not pay for.
  virtual TaskOutput compute(models::Model& model, const data::Batch& batch,
                             bool count_correct) const = 0;
  // Tokens in one sample (a language model's window); 0 for other tasks. When set, logs carry
  // tokens/s and evaluations the perplexity.
  virtual int64_t tokens_per_sample() const { return 0; }
};

}  // namespace trainrt::train
