#include "trainrt/models/registry.h"

namespace trainrt::models {

ModelRegistry& ModelRegistry::instance() {
  static ModelRegistry registry;
  return registry;
}

// The built-in models: `trainrt train --help` and errors list them from here.
ModelRegistry::ModelRegistry() {
  factories_.add("mlp", make_mlp);
  factories_.add("cnn", make_cnn);
  factories_.add("resnet", make_resnet);
  factories_.add("gpt", make_gpt);
  factories_.add("torchscript", make_torchscript);
}

}  // namespace trainrt::models
