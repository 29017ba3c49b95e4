#include "trainrt/ckpt/trainer_checkpoint.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "trainrt/ckpt/state_dict.h"
#include "trainrt/config/load.h"
#include "trainrt/config/validate.h"
#include "trainrt/core/error.h"
#include "trainrt/models/registry.h"

namespace trainrt::ckpt {
namespace {

// A checkpoint's manifest says what it holds: one without a trainer's files is refused before any
// of them is read (a file read from disk that the manifest does not list was never verified).
void require_trainer_files(const CheckpointInfo& checkpoint) {
  std::vector<std::string> listed;
  for (const auto& file : checkpoint.manifest.files()) listed.push_back(file.name());
  for (const char* name : {kModelFile, kOptimizerFile, kTrainStateFile, kConfigFile}) {
    if (std::find(listed.begin(), listed.end(), name) == listed.end()) {
      throw DataError(fmt::format("checkpoint '{}' holds no {} (its manifest lists: {}); not a trainer's "
                                  "checkpoint", checkpoint.path, name, fmt::join(listed, ", ")));
    }
  }
}

}  // namespace

const models::ModelSpec& TrainerCheckpoint::model_spec() const {
  if (!spec) {
    throw DataError(fmt::format("checkpoint '{}' does not record the model's shape (written by an older "
                                "trainrt); resume it for one step to write a new checkpoint", path()));
  }
  return *spec;
}

std::string TrainerCheckpoint::take_file(const std::string& name) {
  const auto kept = files.contents.find(name);
  if (kept == files.contents.end()) return read_checkpoint_file(files, name);
  std::string bytes = std::move(kept->second);
  files.contents.erase(kept);  // taken: a second call reads the file again
  return bytes;
}

TrainerCheckpoint open_trainer_checkpoint(const std::string& path, std::vector<std::string>* skipped,
                                          bool keep_contents) {
  return read_trainer_checkpoint(resolve_checkpoint(path, skipped, keep_contents));
}

TrainerCheckpoint read_trainer_checkpoint(CheckpointInfo verified) {
  require_trainer_files(verified);
  TrainerCheckpoint checkpoint;
  checkpoint.files = std::move(verified);
  // The small files are copied, not taken: `export` writes config.pbtxt's own bytes into its bundle.
  const std::string state_source = checkpoint.path() + "/" + kTrainStateFile;
  if (!checkpoint.state.ParseFromString(read_checkpoint_file(checkpoint.files, kTrainStateFile))) {
    // Its bytes match the manifest: written so, not damaged since.
    throw DataError(fmt::format("{}: not a valid train state; use an earlier checkpoint", state_source));
  }
  checkpoint.spec = model_spec_of(checkpoint.state, state_source);
  const std::string config_source = checkpoint.path() + "/" + kConfigFile;
  checkpoint.config = read_saved_config(read_checkpoint_file(checkpoint.files, kConfigFile), config_source);
  return checkpoint;
}

config::TrainConfig read_saved_config(const std::string& text, const std::string& source) {
  config::TrainConfig config = config::parse_config_text(text, source);
  config::ValidationOptions options;
  options.check_paths = false;
  config::validate_config(config, source, options);
  return config;
}

models::ModelSpec make_model_spec(std::vector<int64_t> input_shape, int64_t num_outputs,
                                  const std::string& input_dtype, const std::string& source) {
  const bool shape_ok = !input_shape.empty() &&
                        std::all_of(input_shape.begin(), input_shape.end(), [](int64_t size) { return size >= 1; });
  if (!shape_ok || num_outputs < 1 || (input_dtype != "float" && input_dtype != "long")) {
    throw DataError(fmt::format("{}: the model's shape (input [{}] of '{}', {} outputs) is not one trainrt "
                                "writes (every size >= 1, dtype float or long); damaged or hand-edited",
                                source, fmt::join(input_shape, ", "), input_dtype, num_outputs));
  }
  models::ModelSpec spec;
  spec.input_shape = std::move(input_shape);
  spec.num_outputs = num_outputs;
  spec.input_dtype = input_dtype == "long" ? torch::kLong : torch::kFloat;
  return spec;
}

std::optional<models::ModelSpec> model_spec_of(const TrainState& state, const std::string& source) {
  if (state.model_input_shape_size() == 0) return std::nullopt;
  return make_model_spec({state.model_input_shape().begin(), state.model_input_shape().end()},
                         state.model_outputs(), state.model_input_dtype(), source);
}

void record_model_spec(const models::ModelSpec& spec, TrainState& state) {
  state.clear_model_input_shape();
  for (const int64_t size : spec.input_shape) state.add_model_input_shape(size);
  state.set_model_outputs(spec.num_outputs);
  state.set_model_input_dtype(input_dtype_name(spec.input_dtype));
}

const char* input_dtype_name(torch::Dtype dtype) { return dtype == torch::kLong ? "long" : "float"; }

std::shared_ptr<models::Model> build_trained_model(const config::TrainConfig& config,
                                                   const models::ModelSpec& spec, const std::string& weights,
                                                   const std::string& source) {
  auto model = models::ModelRegistry::instance().create(config.model(), spec);
  load_model_state(*model, weights, source);
  return model;
}

}  // namespace trainrt::ckpt
