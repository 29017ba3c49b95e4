// defines: TrainerCheckpoint, open_trainer_checkpoint, read_trainer_checkpoint, read_saved_config,
//          make_model_spec, model_spec_of, record_model_spec, input_dtype_name, build_trained_model,
//          kModelFile, kOptimizerFile, kTrainStateFile, kConfigFile
//
// A trainer's checkpoint and its one reader, used by resume (train/checkpoint_state.h), `trainrt
// export` (infer/bundle.h), `trainrt generate` and `trainrt ckpt inspect`. Its files, committed by
// ckpt/commit.h with sizes and CRC-32s in the manifest:
//   model.pt        the model's state dict (Python's torch.load opens it: {name: tensor})
//   optimizer.pt    the optimizer's state, {"<parameter>.<slot>": tensor} (optim/state.h)
//   train_state.pb  step, loader position, RNG state, data-parallel shape, the model's shape
//                   (train_state.proto)
//   config.pbtxt    the resolved config the run was started with
//
//   ckpt::TrainerCheckpoint checkpoint = ckpt::open_trainer_checkpoint("runs/x");  // its newest whole one
//   auto model = ckpt::build_trained_model(checkpoint.config, checkpoint.model_spec(),
//                                          checkpoint.take_file(ckpt::kModelFile),
//                                          checkpoint.path() + "/" + ckpt::kModelFile);
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "trainrt/ckpt/catalog.h"
#include "trainrt/ckpt/train_state.pb.h"
#include "trainrt/config/trainrt.pb.h"
#include "trainrt/models/model.h"

namespace trainrt::ckpt {

inline constexpr const char* kModelFile = "model.pt";
inline constexpr const char* kOptimizerFile = "optimizer.pt";
inline constexpr const char* kTrainStateFile = "train_state.pb";
inline constexpr const char* kConfigFile = "config.pbtxt";

struct TrainerCheckpoint {
  CheckpointInfo files;  // verified; with the files' bytes when read with keep_contents
  TrainState state;      // train_state.pb
  config::TrainConfig config;  // config.pbtxt, validated (read_saved_config)
  // The model's shape; absent in a checkpoint written before trainrt recorded it (which resumes,
  // but cannot be exported or sampled from: model_spec() says so).
  std::optional<models::ModelSpec> spec;

  const std::string& path() const { return files.path; }
  // `spec`, or a DataError naming the checkpoint and what to do when it has none.
  const models::ModelSpec& model_spec() const;
  // The bytes of the file `name` (kModelFile, kOptimizerFile): moved out of the kept contents (large
  // files are not copied), else read now. Throws trainrt::Error (kIo) if it cannot be read.
  std::string take_file(const std::string& name);
};

// The checkpoint `path` names (ckpt::resolve_checkpoint: a checkpoint directory, or the newest whole
// one of a directory of checkpoints or of a run directory; newer broken ones are described in
// `skipped`), read by read_trainer_checkpoint. `keep_contents`: the files are read from disk once,
// when verified (resume and export use all of them).
TrainerCheckpoint open_trainer_checkpoint(const std::string& path, std::vector<std::string>* skipped = nullptr,
                                          bool keep_contents = false);

// A checkpoint already verified (ckpt/catalog.h), read: it must hold the four files above, its train
// state must parse and its config parse and validate. Throws trainrt::Error naming the file and what
// is wrong; `spec` stays empty when the train state records no model shape.
TrainerCheckpoint read_trainer_checkpoint(CheckpointInfo verified);

// A config saved beside a model (a checkpoint's or a bundle's config.pbtxt), parsed and validated like
// a config file, except that paths need not exist: the model is used where the data may not be.
// Throws ConfigError naming `source` (the file) and each problem.
config::TrainConfig read_saved_config(const std::string& text, const std::string& source);

// A model's shape as checkpoints and bundles record it: every dimension and `num_outputs` >= 1,
// `input_dtype` "float" or "long" (input_dtype_name). Throws DataError naming `source` otherwise.
models::ModelSpec make_model_spec(std::vector<int64_t> input_shape, int64_t num_outputs,
                                  const std::string& input_dtype, const std::string& source);
// The shape `state` records (make_model_spec); nullopt when it records none.
std::optional<models::ModelSpec> model_spec_of(const TrainState& state, const std::string& source);
// Records `spec` in `state`: what model_spec_of reads back.
void record_model_spec(const models::ModelSpec& spec, TrainState& state);
// "long" for token ids, "float" for anything else.
const char* input_dtype_name(torch::Dtype dtype);

// The model `config` names, of shape `spec`, with the state dict `weights` loaded; `source` names
// the weights in errors. A plugin's model needs the config's plugins loaded first, which only the
// caller may decide (load_listed_plugins: Note [plugins need the application's consent]).
std::shared_ptr<models::Model> build_trained_model(const config::TrainConfig& config,
                                                   const models::ModelSpec& spec, const std::string& weights,
                                                   const std::string& source);

}  // namespace trainrt::ckpt
