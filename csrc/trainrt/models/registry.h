// defines: ModelFactory, ModelRegistry
//
// Models by name. The built-in ones ("mlp", "cnn", "resnet", "gpt") are registered when the registry is
// first used; an application or plugin adds its own with ModelRegistry::instance().add(...). An
// unknown name fails with the list of known names.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "trainrt/config/trainrt.pb.h"
#include "trainrt/models/model.h"

namespace trainrt::models {

using ModelFactory =
    std::function<std::shared_ptr<Model>(const config::ModelConfig&, const ModelSpec&)>;

class ModelRegistry {
 public:
  static ModelRegistry& instance();

  // Throws trainrt::Error if `name` is taken.
  void add(const std::string& name, ModelFactory factory);
  // Builds config.name(); throws trainrt::Error naming the known models if there is no such name.
  std::shared_ptr<Model> create(const config::ModelConfig& config, const ModelSpec& spec) const;
  std::vector<std::string> names() const;

 private:
  ModelRegistry();
  std::vector<std::string> names_locked() const;
  mutable std::mutex mutex_;
  std::map<std::string, ModelFactory> factories_;  // guarded by mutex_
};

// The built-in factories (one file each).
std::shared_ptr<Model> make_mlp(const config::ModelConfig& config, const ModelSpec& spec);
std::shared_ptr<Model> make_cnn(const config::ModelConfig& config, const ModelSpec& spec);
std::shared_ptr<Model> make_resnet(const config::ModelConfig& config, const ModelSpec& spec);
std::shared_ptr<Model> make_gpt(const config::ModelConfig& config, const ModelSpec& spec);

}  // namespace trainrt::models
