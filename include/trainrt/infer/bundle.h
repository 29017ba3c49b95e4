// defines: BundleInfo, export_bundle, read_bundle, load_bundle_model, kBundleVersion
//
// An inference bundle: what an application needs to run a trained model, in one directory that
// `trainrt export` writes from a checkpoint:
//   bundle.json   format "trainrt-bundle", version, the trainrt that wrote it, task, model name,
//                 input shape and dtype, outputs, the checkpoint's step, and each file's size and
//                 CRC-32
//   config.pbtxt  the training config (the model's options, the data's normalisation)
//   weights.pt    the model's state dict (Python: torch.load)
//   model.ts      TorchScript models only: the trained module (Python: torch.jit.load)
// Reading checks the format and version, that every listed file is a plain file name of the
// directory and whole, and validates the config, before anything is built (read_bundle: the one
// reader, which the Predictor uses).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "trainrt/config/trainrt.pb.h"
#include "trainrt/core/plugin.h"
#include "trainrt/models/model.h"

// Declared only: the checkpoint reader is private (not installed); trainrt's own commands pass one.
namespace trainrt::ckpt {
struct TrainerCheckpoint;  // ckpt/trainer_checkpoint.h
}  // namespace trainrt::ckpt

namespace trainrt::infer {

inline constexpr int kBundleVersion = 1;
inline constexpr const char* kBundleManifest = "bundle.json";
inline constexpr const char* kBundleConfig = "config.pbtxt";
inline constexpr const char* kBundleWeights = "weights.pt";
inline constexpr const char* kBundleModule = "model.ts";

struct BundleInfo {
  std::string dir;
  config::TrainConfig config;
  models::ModelSpec spec;
  int64_t step = 0;                // the checkpoint's step
  std::vector<std::string> files;  // as listed in bundle.json
};

// Writes the bundle of the checkpoint `checkpoint_path` names (a checkpoint directory, or a run
// directory: its newest whole checkpoint; ckpt::open_trainer_checkpoint) into the new directory
// `out_dir`, whole or not at all (staged beside it, then renamed). A TorchScript model is rebuilt
// to save its module, with the plugins its config lists only if `plugins` is kLoad (else such a
// checkpoint is refused: Note [plugins need the application's consent] in core/plugin.h). Throws
// trainrt::Error naming the checkpoint or file: a checkpoint without the model's shape (written
// before trainrt recorded it), an existing `out_dir`, a failed write.
BundleInfo export_bundle(const std::string& checkpoint_path, const std::string& out_dir,
                         PluginConsent plugins = PluginConsent::kRefuse);
// The same for a checkpoint already read (best with its contents kept: each file is read once).
BundleInfo export_bundle(ckpt::TrainerCheckpoint checkpoint, const std::string& out_dir,
                         PluginConsent plugins = PluginConsent::kRefuse);

// bundle.json of `dir`, checked: format, version, each listed file a plain file name of `dir`,
// present with its size and CRC-32, config.pbtxt and weights.pt among them, the config valid
// (ckpt::read_saved_config) and the model's shape well formed. Throws trainrt::Error naming the
// file and what is wrong (kData; kConfig for the config).
BundleInfo read_bundle(const std::string& dir);

// The bundle's model, weights loaded, in eval mode on the CPU: a TorchScript bundle's trained
// module (model.ts), else the registry's model. A bundle whose config lists plugins is refused
// (ConfigError naming its config.pbtxt and the plugin) unless `plugins` is kLoad: then they are
// loaded first (Note [plugins need the application's consent] in core/plugin.h).
std::shared_ptr<models::Model> load_bundle_model(const BundleInfo& bundle,
                                                 PluginConsent plugins = PluginConsent::kRefuse);

}  // namespace trainrt::infer
