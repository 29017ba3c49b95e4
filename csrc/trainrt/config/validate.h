// defines: validate_config, validation_errors
//
// Semantic checks that the schema cannot express: ranges, allowed names, contradictions and files
// that must exist. Each problem is reported as "field.path: what is wrong (allowed: ...)".
#pragma once

#include <string>
#include <vector>

#include "trainrt/config/trainrt.pb.h"

namespace trainrt::config {

// Every problem found, in schema order; empty when the config is valid.
std::vector<std::string> validation_errors(const TrainConfig& config);

// Throws trainrt::Error listing all problems (prefixed by `source`, the config's file name).
void validate_config(const TrainConfig& config, const std::string& source);

}  // namespace trainrt::config
