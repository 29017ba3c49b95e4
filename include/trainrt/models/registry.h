// defines: ModelFactory, ModelRegistry
//
// Models by name (config's model.name). The built-in ones are registered when the registry is first
// used (registry.cpp: the one list of them); an application or plugin adds its own with
// ModelRegistry::instance().add(...). An unknown name fails with the list of known names.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "trainrt/config/trainrt.pb.h"
#include "trainrt/core/named_registry.h"
#include "trainrt/models/model.h"

namespace trainrt::models {

using ModelFactory =
    std::function<std::shared_ptr<Model>(const config::ModelConfig&, const ModelSpec&)>;

class ModelRegistry {
 public:
  static ModelRegistry& instance();

  // Throws trainrt::ConfigError if `name` is taken.
  void add(const std::string& name, ModelFactory factory) { factories_.add(name, std::move(factory)); }
  // Builds config.name(); throws trainrt::ConfigError naming the known models if there is no such name.
  std::shared_ptr<Model> create(const config::ModelConfig& config, const ModelSpec& spec) const {
    return factories_.get(config.name(), "model.name")(config, spec);
  }
  std::vector<std::string> names() const { return factories_.names(); }
  // "" when `name` is registered, else the "model.name: unknown model ..." message create() throws.
  std::string problem(const std::string& name) const { return factories_.problem(name, "model.name"); }

 private:
  ModelRegistry();
  NamedRegistry<ModelFactory> factories_{"model"};
};

// The built-in factories (one file each).
std::shared_ptr<Model> make_mlp(const config::ModelConfig& config, const ModelSpec& spec);
std::shared_ptr<Model> make_cnn(const config::ModelConfig& config, const ModelSpec& spec);
std::shared_ptr<Model> make_resnet(const config::ModelConfig& config, const ModelSpec& spec);
std::shared_ptr<Model> make_gpt(const config::ModelConfig& config, const ModelSpec& spec);
std::shared_ptr<Model> make_torchscript(const config::ModelConfig& config, const ModelSpec& spec);

}  // namespace trainrt::models
