// defines: make_task
//
// The task a config's `task` field names, built from its data section.
#pragma once

#include <memory>

#include "trainrt/config/trainrt.pb.h"
#include "trainrt/train/task.h"

namespace trainrt::tasks {

// "image_classification" (image_classification.h) or "language_model" (language_model.h).
std::shared_ptr<const train::Task> make_task(const config::TrainConfig& config);

}  // namespace trainrt::tasks
