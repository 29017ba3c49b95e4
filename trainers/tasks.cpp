#include "tasks.h"

#include <fmt/format.h>

#include "image_classification.h"
#include "language_model.h"
#include "trainrt/core/error.h"

namespace trainrt::trainers {

std::shared_ptr<const train::Task> make_task(const config::TrainConfig& config) {
  if (config.task() == "image_classification") return std::make_shared<ImageClassificationTask>(config);
  if (config.task() == "language_model") return std::make_shared<LanguageModelTask>(config);
  throw ConfigError(fmt::format("task: '{}' is not known (image_classification, language_model)",
                                config.task()));
}

}  // namespace trainrt::trainers
