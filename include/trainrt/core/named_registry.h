// defines: NamedRegistry
//
// Factories by name: every open choice of a config (models, data formats, sample transforms,
// tasks, optimizers, learning-rate schedules), the built-in ones and those applications and plugins
// add. Thread-safe; names are unique; a lookup of an unknown name fails with the names that exist.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "trainrt/core/error.h"

namespace trainrt {

template <class Factory>
class NamedRegistry {
 public:
  // `kind` names what is registered in errors ("model", "data format").
  explicit NamedRegistry(std::string kind) : kind_(std::move(kind)) {}

  // Throws ConfigError if `name` is taken or empty.
  void add(const std::string& name, Factory factory) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (name.empty()) throw ConfigError(fmt::format("a {} needs a name to be registered", kind_));
    if (!factories_.emplace(name, std::move(factory)).second) {
      throw ConfigError(fmt::format("a {} named '{}' is already registered", kind_, name));
    }
  }

  bool contains(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return factories_.count(name) > 0;
  }

  // The factory of `name`; throws ConfigError "FIELD: unknown KIND 'NAME' (known: ...)", FIELD being
  // the config field that named it ("model.name").
  Factory get(const std::string& name, const std::string& field) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = factories_.find(name);
    if (it == factories_.end()) throw ConfigError(unknown_locked(name, field));
    return it->second;
  }

  // "" when `name` is registered, else the message get() would throw: for checking several names
  // and reporting every unknown one at once (tasks/tasks.h's check_names).
  std::string problem(const std::string& name, const std::string& field) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return factories_.count(name) > 0 ? std::string() : unknown_locked(name, field);
  }

  std::vector<std::string> names() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return names_locked();
  }

 private:
  std::string unknown_locked(const std::string& name, const std::string& field) const {
    return fmt::format("{}: unknown {} '{}' (known: {})", field, kind_, name,
                       factories_.empty() ? std::string("none registered")
                                          : fmt::format("{}", fmt::join(names_locked(), ", ")));
  }

  std::vector<std::string> names_locked() const {
    std::vector<std::string> names;
    for (const auto& entry : factories_) names.push_back(entry.first);
    return names;
  }

  std::string kind_;
  mutable std::mutex mutex_;
  std::map<std::string, Factory> factories_;  // guarded by mutex_
};

}  // namespace trainrt
