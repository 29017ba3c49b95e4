#include "trainrt/config/load.h"

#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include "trainrt/config/overrides.h"
#include "trainrt/config/validate.h"
#include "trainrt/core/error.h"

namespace trainrt::config {
namespace {

namespace pb = google::protobuf;

// Collects the text-format parser's complaints as "file:line:column: message" (1-based), each
// followed by the offending line and a caret under the column (the parser's messages alone often
// do not name the field).
class ErrorCollector : public pb::io::ErrorCollector {
 public:
  ErrorCollector(std::string source, const std::string& text) : source_(std::move(source)) {
    size_t start = 0;
    for (size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
      lines_.push_back(text.substr(start, end - start));
    }
    lines_.push_back(text.substr(start));
  }
  void AddError(int line, pb::io::ColumnNumber column, const std::string& message) override {
    if (!errors_.empty()) errors_ += "\n";
    errors_ += fmt::format("{}:{}:{}: {}", source_, line + 1, column + 1, message);
    if (line >= 0 && static_cast<size_t>(line) < lines_.size()) {
      errors_ += fmt::format("\n    {}\n    {}^", lines_[line], std::string(column, ' '));
    }
  }
  const std::string& errors() const { return errors_; }

 private:
  std::string source_;
  std::vector<std::string> lines_;
  std::string errors_;
};

// Repeated fields cannot carry a default in proto2; the schema documents these instead.
void fill_repeated_defaults(TrainConfig& config) {
  auto* model = config.mutable_model();
  if (model->mlp().hidden_size() == 0) {
    for (int width : {256, 128, 64}) model->mutable_mlp()->add_hidden(width);
  }
  if (model->cnn().channels_size() == 0) {
    for (int channels : {32, 64}) model->mutable_cnn()->add_channels(channels);
  }
  if (model->resnet().blocks_size() == 0) {
    for (int blocks : {2, 2, 2}) model->mutable_resnet()->add_blocks(blocks);
  }
  auto* data = config.mutable_data();
  if (data->mean_size() == 0) data->add_mean(0.2860f);
  if (data->std_size() == 0) data->add_std(0.3530f);
}

// Sets every unset singular field to its default, recursively, so that the resolved config written
// to a run directory shows every value the job used.
void materialize_defaults(pb::Message& message) {
  const pb::Descriptor* descriptor = message.GetDescriptor();
  const pb::Reflection* reflection = message.GetReflection();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const pb::FieldDescriptor* field = descriptor->field(i);
    if (field->is_repeated()) continue;
    switch (field->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_MESSAGE:
        materialize_defaults(*reflection->MutableMessage(&message, field));
        break;
      case pb::FieldDescriptor::CPPTYPE_INT32:
        reflection->SetInt32(&message, field, reflection->GetInt32(message, field));
        break;
      case pb::FieldDescriptor::CPPTYPE_INT64:
        reflection->SetInt64(&message, field, reflection->GetInt64(message, field));
        break;
      case pb::FieldDescriptor::CPPTYPE_UINT32:
        reflection->SetUInt32(&message, field, reflection->GetUInt32(message, field));
        break;
      case pb::FieldDescriptor::CPPTYPE_UINT64:
        reflection->SetUInt64(&message, field, reflection->GetUInt64(message, field));
        break;
      case pb::FieldDescriptor::CPPTYPE_FLOAT:
        reflection->SetFloat(&message, field, reflection->GetFloat(message, field));
        break;
      case pb::FieldDescriptor::CPPTYPE_DOUBLE:
        reflection->SetDouble(&message, field, reflection->GetDouble(message, field));
        break;
      case pb::FieldDescriptor::CPPTYPE_BOOL:
        reflection->SetBool(&message, field, reflection->GetBool(message, field));
        break;
      case pb::FieldDescriptor::CPPTYPE_STRING:
        reflection->SetString(&message, field, reflection->GetString(message, field));
        break;
      case pb::FieldDescriptor::CPPTYPE_ENUM:
        reflection->SetEnum(&message, field, reflection->GetEnum(message, field));
        break;
    }
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(with_errno(fmt::format("cannot open config file '{}'", path)));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

TrainConfig parse_config_text(const std::string& text, const std::string& source) {
  TrainConfig config;
  ErrorCollector errors(source, text);
  pb::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &config)) {
    throw ConfigError(errors.errors().empty() ? source + ": invalid config" : errors.errors());
  }
  return config;
}

TrainConfig parse_config_json(const std::string& text, const std::string& source) {
  // nlohmann reports JSON syntax errors with a line and column; protobuf's JSON parser does not.
  try {
    const auto parsed = nlohmann::json::parse(text);
    (void)parsed;
  } catch (const nlohmann::json::parse_error& e) {
    size_t line = 1, column = 1;
    for (size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') { ++line; column = 1; } else { ++column; }
    }
    throw ConfigError(fmt::format("{}:{}:{}: invalid JSON ({})", source, line, column, e.what()));
  } catch (const nlohmann::json::exception& e) {
    // A number too large for any type, and the like (found by the config fuzzer).
    throw ConfigError(fmt::format("{}: invalid JSON ({})", source, e.what()));
  }
  TrainConfig config;
  pb::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = pb::util::JsonStringToMessage(text, &config, options);
  if (!status.ok()) {
    throw ConfigError(fmt::format("{}: {}", source, std::string(status.message())));
  }
  return config;
}

TrainConfig load_config(const std::string& path, const std::vector<std::string>& overrides) {
  const std::string text = read_file(path);
  TrainConfig config = ends_with(path, ".json") ? parse_config_json(text, path)
                                                : parse_config_text(text, path);
  return resolve_config(std::move(config), overrides, path);
}

TrainConfig resolve_config(TrainConfig config, const std::vector<std::string>& overrides,
                           const std::string& source) {
  fill_repeated_defaults(config);
  for (const auto& assignment : overrides) apply_override(config, assignment);
  materialize_defaults(config);
  validate_config(config, source);
  return config;
}

std::string config_to_text(const TrainConfig& config) {
  TrainConfig resolved = config;
  materialize_defaults(resolved);
  std::string text;
  pb::TextFormat::PrintToString(resolved, &text);
  return text;
}

}  // namespace trainrt::config
