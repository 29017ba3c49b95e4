// defines: TaskFactory, TaskRegistry, check_names, make_task
//
// The tasks a config's `task` field can name, by name. Built in (registered when the registry is
// first used; tasks.cpp holds the one list): "image_classification" (image_classification.h) and
// "language_model" (language_model.h); an application may register its own.
//
// Note [open names]: the names a config picks from a registry (task, model.name, data.format,
// data.transforms, optimizer.name, schedule.name) are not checked by config validation, which sits
// below the registries and runs before plugins load: each is checked where its registry is
// consulted, failing with the known names. make_task checks those of the whole config first
// (check_names), after plugins are loaded and before any data is read.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "trainrt/config/trainrt.pb.h"
#include "trainrt/core/named_registry.h"
#include "trainrt/train/task.h"

namespace trainrt::tasks {

// Builds the task from the whole config (it opens the data named by config.data()).
using TaskFactory = std::function<std::shared_ptr<const train::Task>(const config::TrainConfig& config)>;

class TaskRegistry {
 public:
  static TaskRegistry& instance();

  // Throws trainrt::ConfigError if `name` is taken.
  void add(const std::string& name, TaskFactory factory) { factories_.add(name, std::move(factory)); }
  // Builds config.task(); throws trainrt::ConfigError naming the known tasks if there is no such name.
  std::shared_ptr<const train::Task> create(const config::TrainConfig& config) const {
    return factories_.get(config.task(), "task")(config);
  }
  std::vector<std::string> names() const { return factories_.names(); }
  // "" when `name` is registered, else the message create() throws.
  std::string problem(const std::string& name) const { return factories_.problem(name, "task"); }

 private:
  TaskRegistry();
  NamedRegistry<TaskFactory> factories_{"task"};
};

// Every name of `config` that its registry does not know (task, model.name, optimizer.name,
// schedule.name), one "FIELD: unknown KIND 'NAME' (known: ...)" line each, in that order; empty when
// all are known. The data format is the task's to check (its registry depends on the task).
std::vector<std::string> unknown_names(const config::TrainConfig& config);

// Throws trainrt::ConfigError listing everything unknown_names finds.
void check_names(const config::TrainConfig& config);

// check_names, then the task config.task names, built from the config.
std::shared_ptr<const train::Task> make_task(const config::TrainConfig& config);

}  // namespace trainrt::tasks
