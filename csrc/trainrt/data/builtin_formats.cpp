// The built-in data formats of task image_classification (format_registry.h registers them).

#include <fmt/format.h>

#include "trainrt/core/error.h"
#include "trainrt/data/csv.h"
#include "trainrt/data/format_registry.h"
#include "trainrt/data/idx.h"
#include "trainrt/data/image_folder.h"
#include "trainrt/data/records.h"

namespace trainrt::data {
namespace {

// IDX files and CIFAR-10 carry no class count; MNIST, Fashion-MNIST and CIFAR-10 have ten.
constexpr int64_t kTenClasses = 10;

int64_t limit_of(const config::DataConfig& data, bool train) {
  return train ? data.train_limit() : data.eval_limit();
}

// The training split's class folders: the test split takes them, so that a class missing from it
// keeps its index.
std::vector<std::string> training_classes(const std::string& root) {
  std::vector<std::string> classes = class_folders(root);
  if (classes.empty()) {
    throw DataError(fmt::format("image folder '{}' holds no class folders; the test split takes its "
                                "classes from it", root));
  }
  return classes;
}

}  // namespace

CustomSplit open_idx(const config::DataConfig& data, bool train) {
  CustomSplit split;
  split.classes = data.num_classes() > 0 ? data.num_classes() : kTenClasses;
  // The limit is applied while reading: the rest of the file is never decompressed.
  auto loaded = load_idx_split(data.dir(), train ? "train" : "t10k", limit_of(data, train), split.classes);
  split.dataset = std::make_shared<TensorDataset>(loaded.images, loaded.labels);
  split.sample_shape = {1, loaded.images.size(2), loaded.images.size(3)};
  return split;
}

CustomSplit open_cifar10(const config::DataConfig& data, bool train) {
  return CustomSplit{load_cifar10(data.dir(), train), {3, 32, 32}, kTenClasses};
}

CustomSplit open_records(const config::DataConfig& data, bool train) {
  const auto& r = data.records();
  RecordLayout layout{r.header_bytes(), r.label_bytes(), {r.shape().begin(), r.shape().end()}};
  auto records = std::make_shared<RecordDataset>(data.dir() + (train ? "/train.bin" : "/test.bin"), layout,
                                                 data.num_classes());
  const int64_t classes = data.num_classes() > 0 ? data.num_classes() : records->label_count();
  return CustomSplit{records, layout.sample_shape, classes};
}

CustomSplit open_csv(const config::DataConfig& data, bool train) {
  auto table = read_csv(data.dir() + (train ? "/train.csv" : "/test.csv"), data.csv().label_column(),
                        data.csv().header(), data.num_classes());
  const int64_t classes = data.num_classes() > 0 ? data.num_classes() : table.labels.max().item<int64_t>() + 1;
  return CustomSplit{std::make_shared<TensorDataset>(table.features, table.labels), {table.features.size(1)},
                     classes};
}

CustomSplit open_image_folder(const config::DataConfig& data, bool train) {
  const auto& f = data.image_folder();
  std::vector<std::string> classes;
  if (!train) classes = training_classes(data.dir() + "/train");
  auto folder = std::make_shared<ImageFolderDataset>(data.dir() + (train ? "/train" : "/test"), f.height(),
                                                     f.width(), f.channels(), classes);
  const int64_t count = data.num_classes() > 0 ? data.num_classes() : static_cast<int64_t>(folder->classes().size());
  return CustomSplit{folder, {f.channels(), f.height(), f.width()}, count};
}

}  // namespace trainrt::data
