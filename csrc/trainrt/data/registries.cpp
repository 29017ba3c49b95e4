#include "trainrt/data/format_registry.h"
#include "trainrt/data/transform_registry.h"

namespace trainrt::data {

DatasetRegistry& DatasetRegistry::instance() {
  static DatasetRegistry registry;
  return registry;
}

TransformRegistry& TransformRegistry::instance() {
  static TransformRegistry registry;
  return registry;
}

}  // namespace trainrt::data
