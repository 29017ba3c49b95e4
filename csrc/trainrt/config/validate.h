// defines: validate_config, validation_errors, ValidationOptions
//
// Semantic checks that the schema cannot express: ranges, closed choices (config/choices.h),
// contradictions and files that must exist. Each problem is reported as "field.path: what is wrong
// (allowed: ...)". Names picked from a registry (model.name, data.format, ...) are checked where the
// registry is consulted, plugins' names included (Note [open names] in tasks/tasks.h).
#pragma once

#include <string>
#include <vector>

#include "trainrt/config/trainrt.pb.h"

namespace trainrt::config {

struct ValidationOptions {
  // Whether paths must exist (data.dir). Off for a config read back from a checkpoint or a bundle:
  // the model is used where the data may never have been.
  bool check_paths = true;
};

// Every problem found, in schema order; empty when the config is valid.
std::vector<std::string> validation_errors(const TrainConfig& config, const ValidationOptions& options = {});

// Throws trainrt::Error listing all problems (prefixed by `source`, the config's file name).
void validate_config(const TrainConfig& config, const std::string& source, const ValidationOptions& options = {});

}  // namespace trainrt::config
