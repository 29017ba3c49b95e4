#include "trainrt/tasks/image_classification.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "trainrt/core/error.h"
#include "trainrt/data/format_registry.h"
#include "trainrt/data/transform_registry.h"
#include "trainrt/tasks/language_model.h"

namespace trainrt::tasks {
namespace {

// One split of the configured data set, opened by its format's factory (data/format_registry.h:
// the built-in formats and those applications and plugins register). `train`, given for the test
// split, carries the training split's classes and sample shape into its checks.
data::CustomSplit load_split(const data::DatasetFactory& open, const config::DataConfig& data,
                             const data::CustomSplit* train) {
  const bool is_train = train == nullptr;
  config::DataConfig request = data;
  // The test split's labels must be below the training split's class count.
  if (train) request.set_num_classes(train->classes);
  data::CustomSplit split = open(request, is_train);
  const char* which = is_train ? "training" : "test";
  if (!split.dataset || split.sample_shape.empty() || split.classes < 1) {
    throw ConfigError(fmt::format("data.format '{}': its factory returned no data set, sample shape or "
                                  "class count for the {} split", data.format(), which));
  }
  if (data.num_classes() > 0) split.classes = data.num_classes();
  if (train && train->sample_shape != split.sample_shape) {
    throw DataError(fmt::format("the test split's samples are [{}] but the training split's are [{}]",
                                fmt::join(split.sample_shape, ", "), fmt::join(train->sample_shape, ", ")));
  }
  if (split.sample_shape.size() != 1 && split.sample_shape.size() != 3) {
    throw ConfigError(fmt::format("data.format '{}': samples of shape [{}]; a classifier takes images [C, H, W] "
                                  "or feature vectors [F]", data.format(), fmt::join(split.sample_shape, ", ")));
  }
  const int64_t limit = is_train ? data.train_limit() : data.eval_limit();
  if (limit > 0 && split.dataset->size() > limit) {
    split.dataset = std::make_shared<data::HeadDataset>(split.dataset, limit);
  }
  return split;
}

// The format's factory; throws ConfigError naming the known formats if data.format is not one.
data::DatasetFactory format_of(const config::DataConfig& data) {
  if (data.format() == kTokensFormat) {
    throw ConfigError(fmt::format("data.format: '{}' does not fit task 'image_classification' (\"{}\" is for "
                                  "task \"language_model\")", data.format(), kTokensFormat));
  }
  return data::DatasetRegistry::instance().formats().get(data.format(), "data.format");
}

}  // namespace

ImageClassificationTask::ImageClassificationTask(const config::TrainConfig& config) {
  const auto& data = config.data();
  const data::DatasetFactory open = format_of(data);
  // The training split first: it fixes the classes the test split is checked against.
  const data::CustomSplit train = load_split(open, data, nullptr);
  const data::CustomSplit eval = load_split(open, data, &train);
  train_ = train.dataset;
  eval_ = eval.dataset;
  spec_.input_shape = train.sample_shape;
  spec_.num_outputs = train.classes;

  if (spec_.input_shape.size() == 1 && data.transforms_size() > 0) {
    throw ConfigError("data.transforms: sample transforms change images; this data set has feature vectors");
  }
  eval_collator_ = make_eval_collator(data, spec_.input_shape);
  if (spec_.input_shape.size() == 1) {  // feature vectors (csv, or a registered format's)
    train_collator_ = eval_collator_;
    return;
  }
  data::ImageAugment augment;
  augment.crop_padding = data.augment().random_crop_padding();
  augment.horizontal_flip = data.augment().horizontal_flip();
  augment.erasing_probability = data.augment().random_erasing();
  for (const auto& name : data.transforms()) {
    augment.custom.push_back({name, data::TransformRegistry::instance().transforms().get(name, "data.transforms")});
  }
  train_collator_ = std::make_shared<data::ImageCollator>(
      spec_.input_shape, std::vector<float>(data.mean().begin(), data.mean().end()),
      std::vector<float>(data.std().begin(), data.std().end()), augment);
}

std::shared_ptr<const data::Collator> make_eval_collator(const config::DataConfig& data,
                                                         const std::vector<int64_t>& sample_shape) {
  if (sample_shape.size() == 1) return std::make_shared<data::FeatureCollator>(sample_shape[0]);
  return std::make_shared<data::ImageCollator>(sample_shape, std::vector<float>(data.mean().begin(), data.mean().end()),
                                               std::vector<float>(data.std().begin(), data.std().end()),
                                               data::ImageAugment{});
}

train::TaskOutput ImageClassificationTask::compute(models::Model& model, const data::Batch& batch,
                                                   bool count_correct) const {
  const torch::Tensor logits = model.forward(batch.input);
  train::TaskOutput out;
  out.loss = torch::nn::functional::cross_entropy(logits, batch.target);
  if (count_correct) out.correct = logits.argmax(1).eq(batch.target).sum().item<int64_t>();
  return out;
}

}  // namespace trainrt::tasks
