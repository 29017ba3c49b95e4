#include "trainrt/train/checkpoint_state.h"

#include <ATen/Context.h>
#include <fmt/format.h>

#include "trainrt/ckpt/catalog.h"
#include "trainrt/core/error.h"
#include "trainrt/dist/replicas.h"

namespace trainrt::train {

void copy_live_tensors(TrainingSnapshot& snapshot, bool off_host_only) {
  for (auto* dict : {&snapshot.model, &snapshot.optimizer}) {
    for (auto& entry : *dict) {
      if (off_host_only && entry.second.device().is_cpu()) continue;
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

// Every change between the checkpoint's config and this run's; throws ConfigError naming each one
// that changes what training computes, unless accepted (ResumeRequest).
std::vector<config::FieldChange> check_config_changes(const ckpt::TrainerCheckpoint& checkpoint,
                                                      const ResumeRequest& request) {
  if (!request.config) return {};
  auto changes = config::config_changes(checkpoint.config, *request.config);
  const bool accepted = request.accept_config_changes || (request.resume != "auto" && request.resume != "never");
  // The batch per rank and the micro-batches change the math only through the global batch (a
  // run resumed by fewer processes with a larger batch each computes the same steps).
  const ckpt::TrainState& saved = checkpoint.state;
  const int64_t saved_global = int64_t{saved.batch_size()} * saved.world_size() * saved.accumulation_steps();
  const int64_t global = int64_t{request.config->data().batch_size()} * request.world_size *
                         request.config->distributed().accumulation_steps();
  std::string refused;
  for (const auto& change : changes) {
    const bool shares_the_batch = change.field == "data.batch_size" || change.field == "distributed.accumulation_steps";
    if (shares_the_batch ? saved_global == global : !config::changes_training(change.field)) continue;
    refused += fmt::format("\n  {}: {} in the checkpoint, {} in this run", change.field, change.before,
                           change.after);
    if (shares_the_batch) refused += fmt::format(" (a global batch of {}, not {})", global, saved_global);
  }
  if (!accepted && !refused.empty()) {
    throw ConfigError(fmt::format(
        "checkpoint {} was written with another config; these fields change what training computes:{}\n"
        "Another job sharing this run directory? Train into another --run-dir (the default is runs/<the "
        "config's name>). To continue this run with the change: --accept-config-changes, or --resume {}",
        checkpoint.path(), refused, checkpoint.path()));
  }
  return changes;
}

// The files of a verified checkpoint, read (ckpt::read_trainer_checkpoint: the one reader, whose
// checks and errors resume shares with export and generate) and moved out of what verifying it read.
ResumeFiles read_resume_files(ckpt::CheckpointInfo verified, const ResumeRequest& request) {
  ckpt::TrainerCheckpoint checkpoint = ckpt::read_trainer_checkpoint(std::move(verified));
  ResumeFiles files;
  files.config_changes = check_config_changes(checkpoint, request);
  files.path = checkpoint.path();
  files.state = std::move(checkpoint.state);
  files.model = checkpoint.take_file(ckpt::kModelFile);
  files.optimizer = checkpoint.take_file(ckpt::kOptimizerFile);
  return files;
}

}  // namespace

std::optional<ResumeFiles> find_resume_files(const ResumeRequest& request) {
  const std::string& root = request.root;
  if (request.resume == "never") {
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
  if (request.resume == "auto") {
    checkpoint = ckpt::newest_good_checkpoint(root, &skipped, /*keep_contents=*/true);
  } else {
    checkpoint = ckpt::resolve_checkpoint(request.resume, &skipped, /*keep_contents=*/true);
  }
  if (!checkpoint) {
    if (skipped.empty()) return std::nullopt;
    // Only broken checkpoints: nothing to continue, and nothing worth keeping to lose.
    ResumeFiles none;
    none.skipped = std::move(skipped);
    return none;
  }
  ResumeFiles files = read_resume_files(std::move(*checkpoint), request);
  files.skipped = std::move(skipped);
  return files;
}

std::optional<ResumeFiles> share_resume_files(const ResumeRequest& request, dist::Communicator* communicator) {
  if (!communicator) return find_resume_files(request);
  std::optional<ResumeFiles> files;
  std::exception_ptr failure;
  std::string status;  // "none", "found" or the error
  if (communicator->rank() == 0) {
    try {
      files = find_resume_files(request);
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
