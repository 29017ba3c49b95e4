#include "checkpoint_commands.h"

#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <google/protobuf/text_format.h>

#include "trainrt/ckpt/catalog.h"
#include "trainrt/ckpt/commit.h"
#include "trainrt/ckpt/state_dict.h"
#include "trainrt/infer/bundle.h"
#include "trainrt/train/checkpoint_state.h"

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

ckpt::CheckpointInfo resolve_and_report(const std::string& path, bool keep_contents = false) {
  std::vector<std::string> skipped;
  ckpt::CheckpointInfo checkpoint = ckpt::resolve_checkpoint(path, &skipped, keep_contents);
  for (const auto& broken : skipped) std::cerr << "trainrt: skipped broken checkpoint " << broken << "\n";
  return checkpoint;
}

}  // namespace

int export_command(const std::string& path, const std::string& out) {
  // Verified once, its files kept: the bundle is made from the bytes that were checked.
  const ckpt::CheckpointInfo checkpoint = resolve_and_report(path, /*keep_contents=*/true);
  const infer::BundleInfo bundle = infer::export_bundle(checkpoint, out);
  std::cout << fmt::format("exported {} (step {}, model '{}', input [{}], {} outputs) -> {}: {}\n", checkpoint.path,
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
  const ckpt::CheckpointInfo checkpoint = resolve_and_report(path);
  std::cout << "checkpoint " << checkpoint.path << " (whole)\nmanifest (format version "
            << checkpoint.manifest.version() << "):\n" << indent(text_of(checkpoint.manifest));
  train::TrainState state;
  if (state.ParseFromString(ckpt::read_checkpoint_file(checkpoint, train::kTrainStateFile))) {
    // Generator states are opaque bytes: their sizes say enough.
    const size_t rng_bytes = state.torch_rng_state().size();
    const size_t cuda_rng_bytes = state.cuda_rng_state().size();
    state.clear_torch_rng_state();
    state.clear_cuda_rng_state();
    std::cout << "train state:\n" << indent(text_of(state))
              << fmt::format("  torch_rng_state: <{} bytes>\n", rng_bytes);
    if (cuda_rng_bytes > 0) std::cout << fmt::format("  cuda_rng_state: <{} bytes>\n", cuda_rng_bytes);
  }
  return 0;
}

}  // namespace trainrt::trainers
