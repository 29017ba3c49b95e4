#include "trainrt/tasks/tasks.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "trainrt/core/error.h"
#include "trainrt/models/registry.h"
#include "trainrt/optim/optimizer.h"
#include "trainrt/optim/schedule.h"
#include "trainrt/tasks/image_classification.h"
#include "trainrt/tasks/language_model.h"

namespace trainrt::tasks {

TaskRegistry& TaskRegistry::instance() {
  static TaskRegistry registry;
  return registry;
}

// The built-in tasks: `trainrt train --help` and errors list them from here.
TaskRegistry::TaskRegistry() {
  factories_.add("image_classification", [](const config::TrainConfig& config) {
    return std::make_shared<const ImageClassificationTask>(config);
  });
  factories_.add("language_model", [](const config::TrainConfig& config) {
    return std::make_shared<const LanguageModelTask>(config);
  });
}

std::vector<std::string> unknown_names(const config::TrainConfig& config) {
  std::vector<std::string> problems;
  for (std::string problem : {TaskRegistry::instance().problem(config.task()),
                              models::ModelRegistry::instance().problem(config.model().name()),
                              optim::OptimizerRegistry::instance().problem(config.optimizer().name()),
                              optim::ScheduleRegistry::instance().problem(config.schedule().name())}) {
    if (!problem.empty()) problems.push_back(std::move(problem));
  }
  return problems;
}

void check_names(const config::TrainConfig& config) {
  const auto problems = unknown_names(config);
  if (!problems.empty()) throw ConfigError(fmt::format("{}", fmt::join(problems, "\n  ")));
}

std::shared_ptr<const train::Task> make_task(const config::TrainConfig& config) {
  check_names(config);
  return TaskRegistry::instance().create(config);
}

}  // namespace trainrt::tasks
