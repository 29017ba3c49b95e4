// defines: ImageClassificationTask, make_eval_collator
//
// Classifying samples into classes: images or feature vectors in, in any registered data format
// (data/format_registry.h: IDX files such as Fashion-MNIST, CIFAR-10, fixed-size records, folders
// of JPEG/PNG files, CSV, or an application's), cross-entropy loss and accuracy out. Training images are augmented as configured (data.augment); evaluation images are only
// normalised.
#pragma once

#include <memory>

#include "trainrt/config/trainrt.pb.h"
#include "trainrt/data/transforms.h"
#include "trainrt/train/task.h"

namespace trainrt::tasks {

class ImageClassificationTask : public train::Task {
 public:
  // Reads the data named by config.data(); throws trainrt::Error naming a missing or bad file, or
  // a data.format that is not registered (listing those that are).
  explicit ImageClassificationTask(const config::TrainConfig& config);

  std::shared_ptr<const data::Dataset> train_set() const override { return train_; }
  std::shared_ptr<const data::Dataset> eval_set() const override { return eval_; }
  std::shared_ptr<const data::Collator> train_collator() const override { return train_collator_; }
  std::shared_ptr<const data::Collator> eval_collator() const override { return eval_collator_; }
  models::ModelSpec model_spec() const override { return spec_; }
  train::TaskOutput compute(models::Model& model, const data::Batch& batch,
                            bool count_correct) const override;

 private:
  std::shared_ptr<const data::Dataset> train_, eval_;
  std::shared_ptr<const data::Collator> train_collator_, eval_collator_;
  models::ModelSpec spec_;
};

// How evaluation (and inference, infer/predictor.h) prepares samples of `sample_shape`: images
// normalised with data.mean and data.std, feature vectors as they are.
std::shared_ptr<const data::Collator> make_eval_collator(const config::DataConfig& data,
                                                         const std::vector<int64_t>& sample_shape);

}  // namespace trainrt::tasks
