#include "trainrt/config/changes.h"

#include <algorithm>
#include <array>
#include <string_view>

#include <google/protobuf/text_format.h>

namespace trainrt::config {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::TextFormat;

// A field's value as a config file writes it; a repeated field as a list.
std::string value_text(const Message& message, const FieldDescriptor& field) {
  const auto* reflection = message.GetReflection();
  std::string text;
  if (!field.is_repeated()) {
    TextFormat::PrintFieldValueToString(message, &field, -1, &text);
    return text;
  }
  text = "[";
  for (int i = 0; i < reflection->FieldSize(message, &field); ++i) {
    std::string item;
    TextFormat::PrintFieldValueToString(message, &field, i, &item);
    text += (i > 0 ? ", " : "") + item;
  }
  return text + "]";
}

void collect(const Message& before, const Message& after, const std::string& prefix,
             std::vector<FieldChange>& changes) {
  const auto* descriptor = before.GetDescriptor();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor& field = *descriptor->field(i);
    const std::string path = prefix + field.name();
    if (field.type() == FieldDescriptor::TYPE_MESSAGE && !field.is_repeated()) {
      // An absent section reads as its defaults, as the trainer reads it.
      collect(before.GetReflection()->GetMessage(before, &field),
              after.GetReflection()->GetMessage(after, &field), path + ".", changes);
      continue;
    }
    std::string old_value = value_text(before, field), new_value = value_text(after, field);
    if (old_value != new_value) changes.push_back({path, std::move(old_value), std::move(new_value)});
  }
}

// The fields (a name ending in '.': a whole section) whose change leaves what training computes
// as it was: training length, evaluation and logging cadence, threads and timeouts, the device and
// backend, checkpoints and observation.
constexpr std::array<std::string_view, 20> kMayChange = {
    "name",                    "train.epochs",           "train.max_steps",
    "train.eval_every_steps",  "train.log_every_steps",  "train.on_nonfinite",
    "train.max_consecutive_skips", "data.eval_batch_size", "data.eval_limit",
    "data.loader.",            "runtime.threads",        "runtime.device",
    "distributed.backend",     "distributed.bucket_mb",  "distributed.first_bucket_mb",
    "distributed.timeout_seconds", "distributed.replace_timeout_seconds", "distributed.min_world_size",
    "checkpoint.",             "observe.",
};

}  // namespace

std::vector<FieldChange> config_changes(const TrainConfig& before, const TrainConfig& after) {
  std::vector<FieldChange> changes;
  collect(before, after, "", changes);
  return changes;
}

bool changes_training(const std::string& field) {
  return std::none_of(kMayChange.begin(), kMayChange.end(), [&](std::string_view allowed) {
    return allowed.back() == '.' ? field.rfind(allowed, 0) == 0 : field == allowed;
  });
}

}  // namespace trainrt::config
