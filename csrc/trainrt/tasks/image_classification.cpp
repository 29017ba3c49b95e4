#include "trainrt/tasks/image_classification.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "trainrt/core/error.h"
#include "trainrt/data/csv.h"
#include "trainrt/data/format_registry.h"
#include "trainrt/data/idx.h"
#include "trainrt/data/image_folder.h"
#include "trainrt/data/records.h"

namespace trainrt::tasks {
namespace {

// IDX files and CIFAR-10 carry no class count; MNIST, Fashion-MNIST and CIFAR-10 have ten.
constexpr int64_t kTenClasses = 10;

struct Split {
  std::shared_ptr<const data::Dataset> dataset;
  std::vector<int64_t> sample_shape;
  int64_t classes = 0;
};

// One split ("train" or "test") of the configured data set. `train` carries the training split's
// classes into the test split's checks.
Split load_split(const config::DataConfig& data, bool is_train, const Split* train) {
  const int64_t limit = is_train ? data.train_limit() : data.eval_limit();
  const int64_t configured = data.num_classes();
  const int64_t known = train ? train->classes : configured;
  const std::string& dir = data.dir();
  Split split;
  if (data.format() == "idx") {
    split.classes = configured > 0 ? configured : kTenClasses;
    auto loaded = data::load_idx_split(dir, is_train ? "train" : "t10k", limit, split.classes);
    split.dataset = std::make_shared<data::TensorDataset>(loaded.images, loaded.labels);
    split.sample_shape = {1, loaded.images.size(2), loaded.images.size(3)};
  } else if (data.format() == "cifar10") {
    split.classes = kTenClasses;
    split.dataset = data::load_cifar10(dir, is_train);
    split.sample_shape = {3, 32, 32};
  } else if (data.format() == "records") {
    data::RecordLayout layout{data.records().header_bytes(), data.records().label_bytes(),
                              {data.records().shape().begin(), data.records().shape().end()}};
    auto records = std::make_shared<data::RecordDataset>(
        dir + (is_train ? "/train.bin" : "/test.bin"), layout, known);
    split.classes = known > 0 ? known : records->label_count();
    split.dataset = records;
    split.sample_shape = layout.sample_shape;
  } else if (data.format() == "csv") {
    auto table = data::read_csv(dir + (is_train ? "/train.csv" : "/test.csv"),
                                data.csv().label_column(), data.csv().header(), known);
    split.classes = known > 0 ? known : table.labels.max().item<int64_t>() + 1;
    split.dataset = std::make_shared<data::TensorDataset>(table.features, table.labels);
    split.sample_shape = {table.features.size(1)};
  } else if (data.format() == "image_folder") {
    const auto& f = data.image_folder();
    std::vector<std::string> classes;
    if (train) classes = std::static_pointer_cast<const data::ImageFolderDataset>(train->dataset)->classes();
    auto folder = std::make_shared<data::ImageFolderDataset>(
        dir + (is_train ? "/train" : "/test"), f.height(), f.width(), f.channels(), classes);
    split.classes = configured > 0 ? configured : static_cast<int64_t>(folder->classes().size());
    split.dataset = folder;
    split.sample_shape = {f.channels(), f.height(), f.width()};
  } else {
    auto& registered = data::DatasetRegistry::instance().formats();
    if (!registered.contains(data.format())) {
      const auto names = registered.names();
      throw ConfigError(fmt::format("data.format: '{}' is not known (built in: idx, cifar10, records, csv, "
                                    "image_folder, tokens; registered: {})", data.format(),
                                    names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))));
    }
    data::CustomSplit custom = registered.get(data.format(), "data.format")(data, is_train);
    if (!custom.dataset || custom.sample_shape.empty() || custom.classes < 1) {
      throw ConfigError(fmt::format("data.format '{}': its factory returned no data set, sample shape or "
                                    "class count for the {} split", data.format(), is_train ? "training" : "test"));
    }
    split.classes = configured > 0 ? configured : custom.classes;
    split.dataset = custom.dataset;
    split.sample_shape = custom.sample_shape;
  }
  if (train && train->sample_shape != split.sample_shape) {
    throw DataError(fmt::format("the test split's samples are [{}] but the training split's are [{}]",
                                fmt::join(split.sample_shape, ", "), fmt::join(train->sample_shape, ", ")));
  }
  if (split.sample_shape.size() != 1 && split.sample_shape.size() != 3) {
    throw ConfigError(fmt::format("data.format '{}': samples of shape [{}]; a classifier takes images [C, H, W] "
                                  "or feature vectors [F]", data.format(), fmt::join(split.sample_shape, ", ")));
  }
  if (limit > 0 && data.format() != "idx") {
    split.dataset = std::make_shared<data::HeadDataset>(split.dataset, limit);
  }
  return split;
}

}  // namespace

ImageClassificationTask::ImageClassificationTask(const config::TrainConfig& config) {
  const auto& data = config.data();
  // The training split first: it fixes the classes the test split is checked against.
  Split train = load_split(data, /*is_train=*/true, nullptr);
  // image_folder classes come from the training folder; keep its dataset for the test split.
  Split eval = load_split(data, /*is_train=*/false, &train);
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
