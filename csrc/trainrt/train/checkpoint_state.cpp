#include "trainrt/train/checkpoint_state.h"

#include <ATen/Context.h>
#include <fmt/format.h>

#include "trainrt/ckpt/catalog.h"
#include "trainrt/core/error.h"
#include "trainrt/dist/replicas.h"

namespace trainrt::train {

void copy_live_tensors(TrainingSnapshot& snapshot) {
  for (auto* dict : {&snapshot.model, &snapshot.optimizer}) {
    for (auto& entry : *dict) {
      entry.second = entry.second.detach().to(torch::kCPU, /*non_blocking=*/false, /*copy=*/true);
    }
  }
}

ckpt::CheckpointPayload snapshot_payload(const TrainingSnapshot& snapshot) {
  ckpt::CheckpointPayload payload;
  payload.step = snapshot.state.step();
  payload.epoch = snapshot.state.loader_epoch();
  payload.world_size = snapshot.state.world_size();
  // The tensors stream from the snapshot to disk (which outlives the payload: the writer holds it).
  auto tensors = [](const ckpt::TensorDict& dict) {
    return [&dict](const ckpt::ByteSink& sink) { ckpt::write_tensor_dict(dict, sink); };
  };
  payload.files = {{ckpt::kModelFile, "", tensors(snapshot.model)},
                   {ckpt::kOptimizerFile, "", tensors(snapshot.optimizer)},
                   {ckpt::kTrainStateFile, snapshot.state.SerializeAsString(), nullptr},
                   {ckpt::kConfigFile, snapshot.config_text, nullptr}};
  return payload;
}

namespace {

// The files of a verified checkpoint, read (ckpt::read_trainer_checkpoint: the one reader, whose
// checks and errors resume shares with export and generate) and moved out of what verifying it read.
ResumeFiles read_resume_files(ckpt::CheckpointInfo verified) {
  ckpt::TrainerCheckpoint checkpoint = ckpt::read_trainer_checkpoint(std::move(verified));
  ResumeFiles files;
  files.path = checkpoint.path();
  files.state = std::move(checkpoint.state);
  files.model = checkpoint.take_file(ckpt::kModelFile);
  files.optimizer = checkpoint.take_file(ckpt::kOptimizerFile);
  return files;
}

}  // namespace

std::optional<ResumeFiles> find_resume_files(const std::string& resume, const std::string& root) {
  if (resume == "never") {
    const auto existing = ckpt::list_checkpoints(root);
    if (!existing.empty()) {
      throw ConfigError(fmt::format(
          "--resume never: '{}' already holds checkpoints (newest: {}), which this run would "
          "replace; resume them with --resume auto, or train into another --run-dir",
          root, existing.front()));
    }
    return std::nullopt;
  }
  std::vector<std::string> skipped;
  std::optional<ckpt::CheckpointInfo> checkpoint;
  if (resume == "auto") {
    checkpoint = ckpt::newest_good_checkpoint(root, &skipped, /*keep_contents=*/true);
  } else {
    checkpoint = ckpt::resolve_checkpoint(resume, &skipped, /*keep_contents=*/true);
  }
  if (!checkpoint) {
    if (skipped.empty()) return std::nullopt;
    // Only broken checkpoints: nothing to continue, and nothing worth keeping to lose.
    ResumeFiles none;
    none.skipped = std::move(skipped);
    return none;
  }
  ResumeFiles files = read_resume_files(std::move(*checkpoint));
  files.skipped = std::move(skipped);
  return files;
}

std::optional<ResumeFiles> share_resume_files(const std::string& resume, const std::string& root,
                                              dist::Communicator* communicator) {
  if (!communicator) return find_resume_files(resume, root);
  std::optional<ResumeFiles> files;
  std::exception_ptr failure;
  std::string status;  // "none", "found" or the error
  if (communicator->rank() == 0) {
    try {
      files = find_resume_files(resume, root);
      status = files ? "found" : "none";
    } catch (const std::exception& e) {
      failure = std::current_exception();
      status = e.what();
    }
  }
  status = dist::broadcast_bytes(status, *communicator);
  if (failure) std::rethrow_exception(failure);
  if (status == "none") return std::nullopt;
  if (status != "found") {
    throw Error(Error::Kind::kData, fmt::format("rank {}: rank 0 could not resume: {}",
                                                communicator->rank(), status));
  }
  if (!files) files.emplace();
  auto share = [&](std::string& bytes) { bytes = dist::broadcast_bytes(bytes, *communicator); };
  share(files->path);
  std::string state = files->state.SerializeAsString();
  share(state);
  files->state.ParseFromString(state);
  share(files->model);
  share(files->optimizer);
  return files;
}

std::string torch_rng_state(torch::Device device) {
  auto generator = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(generator.mutex());
  const torch::Tensor state = generator.get_state();
  return std::string(static_cast<const char*>(state.data_ptr()), static_cast<size_t>(state.nbytes()));
}

void set_torch_rng_state(const std::string& state, const std::string& source, torch::Device device) {
  auto generator = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(generator.mutex());
  torch::Tensor tensor = torch::empty({static_cast<int64_t>(state.size())}, torch::kUInt8);
  std::memcpy(tensor.data_ptr(), state.data(), state.size());
  try {
    generator.set_state(tensor);
  } catch (const c10::Error& e) {
    throw DataError(fmt::format("{}: not a random generator state: {}", source, e.what_without_backtrace()));
  }
}

}  // namespace trainrt::train
