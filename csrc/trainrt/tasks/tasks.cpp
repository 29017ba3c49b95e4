#include "trainrt/tasks/tasks.h"

#include <fmt/format.h>

#include "trainrt/tasks/image_classification.h"
#include "trainrt/tasks/language_model.h"
#include "trainrt/core/error.h"

namespace trainrt::tasks {

std::shared_ptr<const train::Task> make_task(const config::TrainConfig& config) {
  if (config.task() == "image_classification") return std::make_shared<ImageClassificationTask>(config);
  if (config.task() == "language_model") return std::make_shared<LanguageModelTask>(config);
  throw ConfigError(fmt::format("task: '{}' is not known (image_classification, language_model)",
                                config.task()));
}

}  // namespace trainrt::tasks
