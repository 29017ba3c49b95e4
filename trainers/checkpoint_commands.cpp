#include "checkpoint_commands.h"

#include <filesystem>
#include <iostream>
#include <optional>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <google/protobuf/text_format.h>

#include "trainrt/ckpt/catalog.h"
#include "trainrt/ckpt/commit.h"
#include "trainrt/ckpt/trainer_checkpoint.h"
#include "trainrt/infer/bundle.h"

namespace trainrt::trainers {
namespace {

std::string text_of(const google::protobuf::Message& message) {
  std::string text;
  google::protobuf::TextFormat::PrintToString(message, &text);
  return text;
}

std::string indent(const std::string& text) {
  std::string out;
  size_t begin = 0;
  while (begin < text.size()) {
    const size_t end = text.find('\n', begin);
    out += "  " + text.substr(begin, end - begin) + "\n";
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return out;
}

// A recorded model shape in words: "input [1, 28, 28] float, 10 outputs".
std::string spec_text(const std::optional<models::ModelSpec>& spec) {
  if (!spec) return "not recorded (written by an older trainrt)";
  return fmt::format("input [{}] {}, {} outputs", fmt::join(spec->input_shape, ", "),
                     ckpt::input_dtype_name(spec->input_dtype), spec->num_outputs);
}

}  // namespace

ckpt::TrainerCheckpoint open_checkpoint(const std::string& path, bool keep_contents) {
  std::vector<std::string> skipped;
  ckpt::TrainerCheckpoint checkpoint = ckpt::open_trainer_checkpoint(path, &skipped, keep_contents);
  for (const auto& broken : skipped) std::cerr << "trainrt: skipped broken checkpoint " << broken << "\n";
  return checkpoint;
}

int export_command(const std::string& path, const std::string& out) {
  // Verified once, its files kept: the bundle is made from the bytes that were checked.
  ckpt::TrainerCheckpoint checkpoint = open_checkpoint(path, /*keep_contents=*/true);
  const std::string checkpoint_path = checkpoint.path();
  // The checkpoint named on the command line is the user's own: its plugins load, as `trainrt
  // train` loads its config's (Note [plugins need the application's consent]).
  const infer::BundleInfo bundle = infer::export_bundle(std::move(checkpoint), out, PluginConsent::kLoad);
  std::cout << fmt::format("exported {} (step {}, model '{}', input [{}], {} outputs) -> {}: {}\n", checkpoint_path,
                           bundle.step, bundle.config.model().name(), fmt::join(bundle.spec.input_shape, ", "),
                           bundle.spec.num_outputs, out, fmt::join(bundle.files, ", "));
  return 0;
}

int inspect_command(const std::string& path) {
  // A directory of checkpoints (or a run directory) is listed whole first.
  std::string root = path;
  if (!std::filesystem::exists(std::filesystem::path(path) / ckpt::kManifestFile)) {
    if (ckpt::list_checkpoints(root).empty()) root = path + "/" + ckpt::kCheckpointsFolder;
    for (const auto& dir : ckpt::list_checkpoints(root)) {
      const std::string problem = ckpt::verify_checkpoint(dir);
      std::cout << dir << ": " << (problem.empty() ? "whole" : "BROKEN: " + problem) << "\n";
    }
  }
  const ckpt::TrainerCheckpoint checkpoint = open_checkpoint(path, /*keep_contents=*/false);
  std::cout << "checkpoint " << checkpoint.path() << " (whole)\nmanifest (format version "
            << checkpoint.files.manifest.version() << "):\n" << indent(text_of(checkpoint.files.manifest));
  // Generator states are opaque bytes: their sizes say enough.
  ckpt::TrainState state = checkpoint.state;
  const size_t rng_bytes = state.torch_rng_state().size();
  const size_t cuda_rng_bytes = state.cuda_rng_state().size();
  state.clear_torch_rng_state();
  state.clear_cuda_rng_state();
  std::cout << "train state:\n" << indent(text_of(state)) << fmt::format("  torch_rng_state: <{} bytes>\n", rng_bytes);
  if (cuda_rng_bytes > 0) std::cout << fmt::format("  cuda_rng_state: <{} bytes>\n", cuda_rng_bytes);
  std::cout << fmt::format("model: '{}' of task {}, {}\n", checkpoint.config.model().name(), checkpoint.config.task(),
                           spec_text(checkpoint.spec));
  return 0;
}

}  // namespace trainrt::trainers
