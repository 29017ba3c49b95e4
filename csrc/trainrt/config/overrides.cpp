#include "trainrt/config/overrides.h"

#include <fmt/format.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/text_format.h>

#include "trainrt/core/error.h"

namespace trainrt::config {
namespace {

namespace pb = google::protobuf;

std::string trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  const auto end = s.find_last_not_of(" \t");
  return s.substr(begin, end - begin + 1);
}

std::vector<std::string> split(const std::string& s, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const auto pos = s.find(separator, start);
    parts.push_back(s.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
    if (pos == std::string::npos) return parts;
    start = pos + 1;
  }
}

std::string field_names(const pb::Descriptor* descriptor) {
  std::string names;
  for (int i = 0; i < descriptor->field_count(); ++i) {
    names += (i ? ", " : "") + descriptor->field(i)->name();
  }
  return names;
}

// Text format wants strings quoted; accept them bare on the command line.
std::string as_text_value(const pb::FieldDescriptor* field, const std::string& value) {
  if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING && !value.empty() &&
      value.front() != '"' && value.front() != '\'') {
    return "\"" + pb::CEscape(value) + "\"";
  }
  return value;
}

}  // namespace

void apply_override(pb::Message& root, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw ConfigError(fmt::format("--set '{}': expected FIELD.PATH=VALUE, e.g. data.batch_size=64",
                                  assignment));
  }
  const std::string path = trim(assignment.substr(0, eq));
  const std::string value = trim(assignment.substr(eq + 1));

  pb::Message* message = &root;
  const auto parts = split(path, '.');
  for (size_t i = 0; i < parts.size(); ++i) {
    const pb::Descriptor* descriptor = message->GetDescriptor();
    const pb::FieldDescriptor* field = descriptor->FindFieldByName(parts[i]);
    if (field == nullptr) {
      throw ConfigError(fmt::format("--set {}: {} has no field '{}' (fields: {})", assignment,
                                    descriptor->full_name(), parts[i], field_names(descriptor)));
    }
    const bool last = i + 1 == parts.size();
    if (!last) {
      if (field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE || field->is_repeated()) {
        throw ConfigError(fmt::format("--set {}: '{}' is a value, not a section", assignment,
                                      parts[i]));
      }
      message = message->GetReflection()->MutableMessage(message, field);
      continue;
    }
    if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      throw ConfigError(fmt::format("--set {}: '{}' is a section; set one of its fields ({})",
                                    assignment, parts[i], field_names(field->message_type())));
    }
    const pb::Reflection* reflection = message->GetReflection();
    std::vector<std::string> values{value};
    if (field->is_repeated()) {
      std::string list = value;
      if (list.size() >= 2 && list.front() == '[' && list.back() == ']') {
        list = list.substr(1, list.size() - 2);
      }
      values = trim(list).empty() ? std::vector<std::string>{} : split(list, ',');
      reflection->ClearField(message, field);
    }
    for (const auto& item : values) {
      // The text-format parser does the type conversion and range checks for us; a repeated field
      // appends one element per call.
      if (!pb::TextFormat::ParseFieldValueFromString(as_text_value(field, trim(item)), field,
                                                     message)) {
        throw ConfigError(fmt::format("--set {}: '{}' is not a valid {} for field '{}'", assignment,
                                      trim(item), field->cpp_type_name(), path));
      }
    }
  }
}

}  // namespace trainrt::config
