#include "image_classification.h"

#include "trainrt/data/idx.h"

namespace trainrt::trainers {
namespace {
// IDX files carry no class count; MNIST and Fashion-MNIST both have ten.
constexpr int64_t kIdxClasses = 10;
}  // namespace

ImageClassificationTask::ImageClassificationTask(const config::TrainConfig& config) {
  const auto& data = config.data();
  auto train = data::load_idx_split(data.dir(), "train", data.train_limit(), kIdxClasses);
  auto eval = data::load_idx_split(data.dir(), "t10k", data.eval_limit(), kIdxClasses);
  const auto sizes = train.images.sizes();
  spec_.input_shape = {sizes[1], sizes[2], sizes[3]};
  spec_.num_outputs = kIdxClasses;
  train_ = std::make_shared<data::TensorDataset>(train.images, train.labels);
  eval_ = std::make_shared<data::TensorDataset>(eval.images, eval.labels);

  const std::vector<float> mean(data.mean().begin(), data.mean().end());
  const std::vector<float> std(data.std().begin(), data.std().end());
  data::ImageAugment augment;
  augment.crop_padding = data.augment().random_crop_padding();
  augment.horizontal_flip = data.augment().horizontal_flip();
  train_collator_ = std::make_shared<data::ImageCollator>(spec_.input_shape, mean, std, augment);
  eval_collator_ = std::make_shared<data::ImageCollator>(spec_.input_shape, mean, std,
                                                         data::ImageAugment{});
}

train::TaskOutput ImageClassificationTask::compute(models::Model& model,
                                                   const data::Batch& batch) const {
  const torch::Tensor logits = model.forward(batch.input);
  train::TaskOutput out;
  out.loss = torch::nn::functional::cross_entropy(logits, batch.target);
  out.correct = logits.argmax(1).eq(batch.target).sum().item<int64_t>();
  return out;
}

}  // namespace trainrt::trainers
