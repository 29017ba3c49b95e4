// defines: CustomSplit, DatasetFactory, DatasetRegistry, open_idx, open_cifar10, open_records,
//          open_csv, open_image_folder
//
// The data formats of task image_classification, by name: config's data.format names one
// registered here. The built-in ones are registered when the registry is first used
// (registries.cpp: the one list of them; each opens its files in builtin_formats.cpp); an
// application or plugin adds its own. The factory gets the whole data section (its `dir`,
// `num_classes`, limits) and which split to open. (Task language_model reads its own format,
// "tokens": tasks/language_model.h.)
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "trainrt/config/trainrt.pb.h"
#include "trainrt/core/named_registry.h"
#include "trainrt/data/dataset.h"

namespace trainrt::data {

struct CustomSplit {
  // Samples are uint8 images [C, H, W] (normalised and augmented like the built-in formats) or,
  // when `sample_shape` has one dimension, float feature vectors [F] (used as they are).
  std::shared_ptr<const Dataset> dataset;
  std::vector<int64_t> sample_shape;
  int64_t classes = 0;  // targets are in [0, classes)
};

// `train`: the training split (else the evaluation split, opened second). For the evaluation split
// data.num_classes holds the training split's class count (its labels must be below it). A factory
// may apply data.train_limit / eval_limit itself; the task keeps the first samples of a split that
// is longer.
using DatasetFactory = std::function<CustomSplit(const config::DataConfig& data, bool train)>;

class DatasetRegistry {
 public:
  static DatasetRegistry& instance();
  NamedRegistry<DatasetFactory>& formats() { return formats_; }

 private:
  DatasetRegistry();
  NamedRegistry<DatasetFactory> formats_{"data format"};
};

// The built-in formats (DIR is data.dir; the proto's DataConfig describes each):
// "idx": MNIST-style DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz].
CustomSplit open_idx(const config::DataConfig& data, bool train);
// "cifar10": CIFAR-10's binary DIR/data_batch_{1..5}.bin, DIR/test_batch.bin.
CustomSplit open_cifar10(const config::DataConfig& data, bool train);
// "records": fixed-size records (data.records) in DIR/train.bin, DIR/test.bin.
CustomSplit open_records(const config::DataConfig& data, bool train);
// "csv": feature rows (data.csv) in DIR/train.csv, DIR/test.csv.
CustomSplit open_csv(const config::DataConfig& data, bool train);
// "image_folder": DIR/train/<class>/*.jpg|png, DIR/test/<class>/* (the training folder's classes).
CustomSplit open_image_folder(const config::DataConfig& data, bool train);

}  // namespace trainrt::data
