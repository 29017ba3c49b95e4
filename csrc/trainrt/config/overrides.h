// defines: apply_override
//
// `--set a.b.c=value`: sets any field of a config by its path. Scalars take their text-format
// value ("0.1", "true", "sgd" or "\"sgd\""); repeated fields take a comma-separated list, with or
// without brackets ("[32,64]", "32,64"), which replaces the whole list.
#pragma once

#include <string>

#include <google/protobuf/message.h>

namespace trainrt::config {

// Throws trainrt::Error naming the override and the unknown field (with the fields that exist) or
// the value that does not fit the field's type.
void apply_override(google::protobuf::Message& message, const std::string& assignment);

}  // namespace trainrt::config
