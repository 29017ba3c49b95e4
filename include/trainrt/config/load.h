// defines: load_config, parse_config_text, parse_config_json, config_to_text
//
// Reading a TrainConfig from a protobuf text file (.pbtxt) or JSON (.json), applying `--set`
// overrides and validating the result. Every failure throws trainrt::Error with a message that
// names the file and line:column (parse errors) or the field path (validation).
#pragma once

#include <string>
#include <vector>

#include "trainrt/config/trainrt.pb.h"

namespace trainrt::config {

// Parses `text` in protobuf text format; `source` names it in error messages.
TrainConfig parse_config_text(const std::string& text, const std::string& source);

// Parses `text` as JSON (protobuf's JSON mapping; field names as in the schema or lowerCamelCase).
TrainConfig parse_config_json(const std::string& text, const std::string& source);

// Reads `path` (JSON when it ends in .json, text format otherwise), applies each "a.b.c=value" of
// `overrides` in order, and validates. This is what `trainrt train CONFIG --set ...` does.
TrainConfig load_config(const std::string& path, const std::vector<std::string>& overrides = {});

// Fills the schema's defaults, applies the overrides in order and validates; `source` names the
// config in error messages. load_config is parse + resolve.
TrainConfig resolve_config(TrainConfig config, const std::vector<std::string>& overrides,
                           const std::string& source);

// The resolved config in text format, with every default made explicit, as written to a run
// directory.
std::string config_to_text(const TrainConfig& config);

}  // namespace trainrt::config
