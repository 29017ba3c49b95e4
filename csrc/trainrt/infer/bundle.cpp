#include "trainrt/infer/bundle.h"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "trainrt/ckpt/catalog.h"
#include "trainrt/ckpt/checksum.h"
#include "trainrt/ckpt/commit.h"
#include "trainrt/ckpt/state_dict.h"
#include "trainrt/config/load.h"
#include "trainrt/core/error.h"
#include "trainrt/core/files.h"
#include "trainrt/core/plugin.h"
#include "trainrt/models/registry.h"
#include "trainrt/models/torchscript.h"
#include "trainrt/train/checkpoint_state.h"

namespace trainrt::infer {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kFormat = "trainrt-bundle";
constexpr const char* kTrainrtVersion = "0.1.0";

std::string dtype_name(torch::Dtype dtype) { return dtype == torch::kLong ? "long" : "float"; }
torch::Dtype dtype_of(const std::string& name) { return name == "long" ? torch::kLong : torch::kFloat; }

// The model `config` and `spec` describe, with the state dict `weights` loaded.
std::shared_ptr<models::Model> build_model(const config::TrainConfig& config, const models::ModelSpec& spec,
                                           const std::string& weights, const std::string& source) {
  load_plugins({config.plugins().begin(), config.plugins().end()});
  auto model = models::ModelRegistry::instance().create(config.model(), spec);
  ckpt::load_model_state(*model, weights, source);
  return model;
}

}  // namespace

BundleInfo export_bundle(const std::string& checkpoint_path, const std::string& out_dir) {
  return export_bundle(ckpt::resolve_checkpoint(checkpoint_path, nullptr, /*keep_contents=*/true), out_dir);
}

BundleInfo export_bundle(const ckpt::CheckpointInfo& checkpoint, const std::string& out_dir) {
  if (fs::exists(out_dir)) {
    throw IoError(fmt::format("{}: exists already; remove it or choose another --out", out_dir));
  }
  train::TrainState state;
  if (!state.ParseFromString(ckpt::read_checkpoint_file(checkpoint, train::kTrainStateFile))) {
    throw DataError(fmt::format("{}/{}: not a train state", checkpoint.path, train::kTrainStateFile));
  }
  if (state.model_input_shape_size() == 0) {
    throw DataError(fmt::format("{}: the checkpoint does not record the model's input shape (written by an "
                                "older trainrt); resume it for one step to write a new checkpoint",
                                checkpoint.path));
  }
  BundleInfo bundle;
  bundle.step = state.step();
  bundle.spec.input_shape.assign(state.model_input_shape().begin(), state.model_input_shape().end());
  bundle.spec.num_outputs = state.model_outputs();
  bundle.spec.input_dtype = dtype_of(state.model_input_dtype());
  const std::string config_text = ckpt::read_checkpoint_file(checkpoint, train::kConfigFile);
  bundle.config = config::parse_config_text(config_text, checkpoint.path + "/" + train::kConfigFile);
  const std::string weights = ckpt::read_checkpoint_file(checkpoint, train::kModelFile);

  std::vector<std::pair<std::string, std::string>> files{{kBundleConfig, config_text}, {kBundleWeights, weights}};
  if (bundle.config.model().name() == "torchscript") {
    // The module file the run started from, with the trained weights in place of its own.
    auto model = std::dynamic_pointer_cast<models::TorchScriptModel>(
        build_model(bundle.config, bundle.spec, weights, checkpoint.path + "/" + train::kModelFile));
    std::ostringstream module_bytes;
    model->module().save(module_bytes);
    files.emplace_back(kBundleModule, module_bytes.str());
  }

  json manifest{{"format", kFormat},
                {"version", kBundleVersion},
                {"trainrt", kTrainrtVersion},
                {"task", bundle.config.task()},
                {"model", bundle.config.model().name()},
                {"step", bundle.step},
                {"input_shape", bundle.spec.input_shape},
                {"input_dtype", dtype_name(bundle.spec.input_dtype)},
                {"num_outputs", bundle.spec.num_outputs},
                {"files", json::object()}};
  for (const auto& [name, bytes] : files) {
    manifest["files"][name] = {{"bytes", bytes.size()}, {"crc32", ckpt::crc32_of(bytes)}};
    bundle.files.push_back(name);
  }
  // Staged beside the destination, renamed when whole: a reader never sees half a bundle.
  const std::string staging = out_dir + ".tmp";
  std::error_code ignored;
  remove_tree(staging, ignored);
  fs::create_directories(staging);
  try {
    for (const auto& [name, bytes] : files) ckpt::replace_file_durably(staging + "/" + name, bytes);
    ckpt::replace_file_durably(staging + "/" + kBundleManifest, manifest.dump(2) + "\n");
    fs::rename(staging, out_dir);
  } catch (...) {
    remove_tree(staging, ignored);
    throw;
  }
  bundle.dir = out_dir;
  return bundle;
}

BundleInfo read_bundle(const std::string& dir) {
  const std::string manifest_path = dir + "/" + kBundleManifest;
  const auto text = read_whole_file(manifest_path);
  if (!text) throw DataError(fmt::format("{}: missing or unreadable; not a trainrt bundle", manifest_path));
  const json manifest = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!manifest.is_object() || manifest.value("format", "") != kFormat) {
    throw DataError(fmt::format("{}: not a trainrt bundle manifest", manifest_path));
  }
  const int version = manifest.value("version", 0);
  if (version != kBundleVersion) {
    throw DataError(fmt::format("{}: bundle version {} (written by trainrt {}); this trainrt {} reads version {}",
                                manifest_path, version, manifest.value("trainrt", "?"), kTrainrtVersion,
                                kBundleVersion));
  }
  BundleInfo bundle;
  bundle.dir = dir;
  try {
    bundle.step = manifest.at("step").get<int64_t>();
    bundle.spec.input_shape = manifest.at("input_shape").get<std::vector<int64_t>>();
    bundle.spec.num_outputs = manifest.at("num_outputs").get<int64_t>();
    bundle.spec.input_dtype = dtype_of(manifest.at("input_dtype").get<std::string>());
    for (const auto& [name, entry] : manifest.at("files").items()) {
      const auto bytes = read_whole_file(dir + "/" + name);
      if (!bytes) throw DataError(fmt::format("{}/{}: missing or unreadable", dir, name));
      if (bytes->size() != entry.at("bytes").get<size_t>() || ckpt::crc32_of(*bytes) != entry.at("crc32").get<uint32_t>()) {
        throw DataError(fmt::format("{}/{}: {} bytes, CRC-32 {:08x}; {} lists {} bytes, {:08x} (damaged or replaced)",
                                    dir, name, bytes->size(), ckpt::crc32_of(*bytes), kBundleManifest,
                                    entry.at("bytes").get<size_t>(), entry.at("crc32").get<uint32_t>()));
      }
      bundle.files.push_back(name);
      if (name == kBundleConfig) bundle.config = config::parse_config_text(*bytes, dir + "/" + name);
    }
  } catch (const json::exception& e) {
    throw DataError(fmt::format("{}: {}", manifest_path, e.what()));
  }
  for (const char* required : {kBundleConfig, kBundleWeights}) {
    if (std::find(bundle.files.begin(), bundle.files.end(), required) == bundle.files.end()) {
      throw DataError(fmt::format("{}: lists no {}", manifest_path, required));
    }
  }
  return bundle;
}

std::shared_ptr<models::Model> load_bundle_model(const BundleInfo& bundle) {
  std::shared_ptr<models::Model> model;
  if (std::find(bundle.files.begin(), bundle.files.end(), kBundleModule) != bundle.files.end()) {
    model = models::load_torchscript_model(bundle.dir + "/" + kBundleModule);
  } else {
    const std::string weights_path = bundle.dir + "/" + kBundleWeights;
    const auto weights = read_whole_file(weights_path);
    if (!weights) throw DataError(fmt::format("{}: missing or unreadable", weights_path));
    model = build_model(bundle.config, bundle.spec, *weights, weights_path);
  }
  model->eval();
  return model;
}

}  // namespace trainrt::infer
