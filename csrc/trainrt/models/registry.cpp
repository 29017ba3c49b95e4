#include "trainrt/models/registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "trainrt/core/error.h"

namespace trainrt::models {

ModelRegistry& ModelRegistry::instance() {
  static ModelRegistry registry;
  return registry;
}

ModelRegistry::ModelRegistry() {
  factories_["mlp"] = make_mlp;
  factories_["cnn"] = make_cnn;
  factories_["resnet"] = make_resnet;
  factories_["gpt"] = make_gpt;
}

void ModelRegistry::add(const std::string& name, ModelFactory factory) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!factories_.emplace(name, std::move(factory)).second) {
    throw ConfigError(fmt::format("a model named '{}' is already registered", name));
  }
}

std::shared_ptr<Model> ModelRegistry::create(const config::ModelConfig& config,
                                             const ModelSpec& spec) const {
  ModelFactory factory;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = factories_.find(config.name());
    if (it == factories_.end()) {
      throw ConfigError(fmt::format("model.name: unknown model '{}' (known: {})", config.name(),
                                    fmt::join(names_locked(), ", ")));
    }
    factory = it->second;
  }
  return factory(config, spec);
}

std::vector<std::string> ModelRegistry::names() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return names_locked();
}

std::vector<std::string> ModelRegistry::names_locked() const {
  std::vector<std::string> names;
  for (const auto& entry : factories_) names.push_back(entry.first);
  return names;
}

}  // namespace trainrt::models
