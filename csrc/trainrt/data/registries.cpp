#include "trainrt/data/format_registry.h"
#include "trainrt/data/transform_registry.h"

namespace trainrt::data {

DatasetRegistry& DatasetRegistry::instance() {
  static DatasetRegistry registry;
  return registry;
}

// The built-in data formats: `trainrt train --help` and errors list them from here.
DatasetRegistry::DatasetRegistry() {
  formats_.add("idx", open_idx);
  formats_.add("cifar10", open_cifar10);
  formats_.add("records", open_records);
  formats_.add("csv", open_csv);
  formats_.add("image_folder", open_image_folder);
}

TransformRegistry& TransformRegistry::instance() {
  static TransformRegistry registry;
  return registry;
}

}  // namespace trainrt::data
