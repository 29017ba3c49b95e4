// defines: CustomSplit, DatasetFactory, DatasetRegistry
//
// Data formats an application or plugin provides for task image_classification: config's
// data.format names one registered here (the built-in formats are in trainers' task). The factory
// gets the whole data section (its `dir`, `num_classes`, limits) and which split to open.
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

// `train`: the training split (else the evaluation split).
using DatasetFactory = std::function<CustomSplit(const config::DataConfig& data, bool train)>;

class DatasetRegistry {
 public:
  static DatasetRegistry& instance();
  NamedRegistry<DatasetFactory>& formats() { return formats_; }

 private:
  DatasetRegistry() = default;
  NamedRegistry<DatasetFactory> formats_{"data format"};
};

}  // namespace trainrt::data
