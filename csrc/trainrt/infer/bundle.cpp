#include "trainrt/infer/bundle.h"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "trainrt/ckpt/checksum.h"
#include "trainrt/ckpt/commit.h"
#include "trainrt/ckpt/trainer_checkpoint.h"
#include "trainrt/core/error.h"
#include "trainrt/core/version.h"
#include "trainrt/core/files.h"
#include "trainrt/models/torchscript.h"

namespace trainrt::infer {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kFormat = "trainrt-bundle";
constexpr const char* kTrainrtVersion = kVersion;

// The bytes of the bundle's file `name`, checked against its `entry` in bundle.json.
std::string read_listed_file(const std::string& dir, const std::string& name, const json& entry) {
  if (!ckpt::is_plain_file_name(name)) {  // never a path out of the bundle
    throw DataError(fmt::format("{}/{}: the file name '{}' is not a plain file name", dir, kBundleManifest, name));
  }
  const auto bytes = read_whole_file(dir + "/" + name);
  if (!bytes) throw DataError(fmt::format("{}/{}: missing or unreadable", dir, name));
  const auto listed_bytes = entry.at("bytes").get<size_t>();
  const auto listed_crc = entry.at("crc32").get<uint32_t>();
  if (bytes->size() != listed_bytes || ckpt::crc32_of(*bytes) != listed_crc) {
    throw DataError(fmt::format("{}/{}: {} bytes, CRC-32 {:08x}; {} lists {} bytes, {:08x} (damaged or replaced)",
                                dir, name, bytes->size(), ckpt::crc32_of(*bytes), kBundleManifest, listed_bytes,
                                listed_crc));
  }
  return *bytes;
}

}  // namespace

BundleInfo export_bundle(const std::string& checkpoint_path, const std::string& out_dir, PluginConsent plugins) {
  return export_bundle(ckpt::open_trainer_checkpoint(checkpoint_path, nullptr, /*keep_contents=*/true), out_dir,
                       plugins);
}

BundleInfo export_bundle(ckpt::TrainerCheckpoint checkpoint, const std::string& out_dir, PluginConsent plugins) {
  if (fs::exists(out_dir)) {
    throw IoError(fmt::format("{}: exists already; remove it or choose another --out", out_dir));
  }
  BundleInfo bundle;
  bundle.step = checkpoint.state.step();
  bundle.spec = checkpoint.model_spec();
  bundle.config = checkpoint.config;
  const std::string config_text = checkpoint.take_file(ckpt::kConfigFile);
  const std::string weights = checkpoint.take_file(ckpt::kModelFile);

  std::vector<std::pair<std::string, std::string>> files{{kBundleConfig, config_text}, {kBundleWeights, weights}};
  if (bundle.config.model().name() == "torchscript") {
    // The module file the run started from, with the trained weights in place of its own (a
    // plugin may define operators it calls).
    load_listed_plugins({bundle.config.plugins().begin(), bundle.config.plugins().end()}, plugins,
                        checkpoint.path() + "/" + ckpt::kConfigFile, "export_bundle(..., PluginConsent::kLoad)");
    auto model = std::dynamic_pointer_cast<models::TorchScriptModel>(ckpt::build_trained_model(
        bundle.config, bundle.spec, weights, checkpoint.path() + "/" + ckpt::kModelFile));
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
                {"input_dtype", ckpt::input_dtype_name(bundle.spec.input_dtype)},
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
    bundle.spec = ckpt::make_model_spec(manifest.at("input_shape").get<std::vector<int64_t>>(),
                                        manifest.at("num_outputs").get<int64_t>(),
                                        manifest.at("input_dtype").get<std::string>(), manifest_path);
    for (const auto& [name, entry] : manifest.at("files").items()) {
      const std::string bytes = read_listed_file(dir, name, entry);
      bundle.files.push_back(name);
      if (name == kBundleConfig) bundle.config = ckpt::read_saved_config(bytes, dir + "/" + name);
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

std::shared_ptr<models::Model> load_bundle_model(const BundleInfo& bundle, PluginConsent plugins) {
  load_listed_plugins({bundle.config.plugins().begin(), bundle.config.plugins().end()}, plugins,
                      bundle.dir + "/" + kBundleConfig,
                      "PredictorOptions::load_plugins = true, or load_bundle_model(bundle, PluginConsent::kLoad),");
  std::shared_ptr<models::Model> model;
  if (std::find(bundle.files.begin(), bundle.files.end(), kBundleModule) != bundle.files.end()) {
    model = models::load_torchscript_model(bundle.dir + "/" + kBundleModule);
  } else {
    const std::string weights_path = bundle.dir + "/" + kBundleWeights;
    const auto weights = read_whole_file(weights_path);
    if (!weights) throw DataError(fmt::format("{}: missing or unreadable", weights_path));
    model = ckpt::build_trained_model(bundle.config, bundle.spec, *weights, weights_path);
  }
  model->eval();
  return model;
}

}  // namespace trainrt::infer
