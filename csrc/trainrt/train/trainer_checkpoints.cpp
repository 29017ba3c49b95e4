#include "trainrt/train/trainer.h"

#include <chrono>

#include <fmt/format.h>

#include "trainrt/ckpt/catalog.h"
#include "trainrt/ckpt/state_dict.h"
#include "trainrt/config/load.h"
#include "trainrt/core/clock.h"
#include "trainrt/core/error.h"
#include "trainrt/dist/replica_group.h"
#include "trainrt/dist/replicas.h"
#include "trainrt/obs/trace.h"
#include "trainrt/optim/state.h"
#include "trainrt/train/checkpoint_state.h"
#include "trainrt/train/trainer_state.h"

// A Trainer's checkpoints: resuming from one, capturing the state at a step boundary, writing it
// (rank 0, in the background), and the write errors the config's checkpoint.on_error decides on.
namespace trainrt::train {
void Trainer::resume() {
  const auto start = Clock::now();
  auto& notes = state_->notes;
  // A replacement: the newest state comes from the replicas' memory.
  const double transfer_ms = joins_running_group() ? adopt_as_replacement() : 0;
  if (joins_running_group()) {
    report_joining(transfer_ms);
    return;
  }
  if (options_.group && options_.group->generation().number > 0) {
    notes.push_back("no replica holds the training state (every one was lost): resuming from the "
                    "newest checkpoint on disk");
  }
  hold_run_directory(/*wait_for_holder=*/true);  // (a replacement that found no state: the disk path)
  ResumeRequest request;
  request.resume = options_.resume;
  request.root = checkpoint_root();
  request.config = &config_;
  request.accept_config_changes = options_.accept_config_changes;
  request.world_size = world_size();
  auto files = share_resume_files(request, options_.communicator.get());
  if (!files) return;
  for (const auto& skipped : files->skipped) {
    notes.push_back(fmt::format("checkpoint {} is broken, skipped", skipped));
  }
  for (const auto& change : files->config_changes) {
    notes.push_back(fmt::format("config changed since the checkpoint: {} {} -> {}", change.field,
                                change.before, change.after));
  }
  state_->config_changes = std::move(files->config_changes);
  if (files->path.empty()) {
    notes.push_back("no whole checkpoint to resume from: starting afresh");
    return;
  }
  load_resume_files(*files, start);
}

void Trainer::load_resume_files(const ResumeFiles& files, Clock::time_point start) {
  auto& notes = state_->notes;
  const ckpt::TrainState& saved = files.state;
  if (saved.optimizer() != config_.optimizer().name()) {
    throw ConfigError(fmt::format("optimizer.name: '{}', but checkpoint {} holds the state of '{}'",
                                  config_.optimizer().name(), files.path, saved.optimizer()));
  }
  // Verified against the manifest by rank 0, which read them (the others received its bytes over
  // the group's TCP connections): no second CRC, no copy.
  ckpt::load_model_state(*model_, files.model, files.path + "/" + ckpt::kModelFile, /*verified=*/true);
  const std::string optimizer_source = files.path + "/" + ckpt::kOptimizerFile;
  optim::load_optimizer_state(*state_->optimizer,
                              optim::optimizer_parameter_names(*state_->optimizer, *model_),
                              ckpt::read_verified_tensor_dict(files.optimizer, optimizer_source),
                              optimizer_source);
  set_torch_rng_state(saved.torch_rng_state(), files.path + "/" + ckpt::kTrainStateFile);
  // A CPU run resumed on a GPU starts the GPU's generator from the seed; a GPU run resumed on the
  // CPU has no use for it.
  if (device_.is_cuda() && saved.has_cuda_rng_state()) {
    set_torch_rng_state(saved.cuda_rng_state(), files.path + "/" + ckpt::kTrainStateFile, device_);
  }
  // Loaded: the checkpoints after this one are of a branch the run abandons (a rollback). Only now,
  // so that a resume that fails leaves every checkpoint where it was.
  if (rank() == 0) {
    for (const auto& set_aside : ckpt::set_aside_checkpoints_after(checkpoint_root(), saved.step())) {
      notes.push_back(fmt::format("set aside {}: newer than the checkpoint this run continues, of a branch "
                                  "it abandons (never resumed; pruned first)", set_aside));
    }
  }
  state_->start = {saved.loader_epoch(), saved.loader_sample()};
  state_->completed_position = state_->start;
  state_->skipped_steps = saved.skipped_steps();
  state_->consecutive_skips = saved.consecutive_skips();
  state_->start_step = saved.step();
  state_->resumed_step = saved.step();
  notes.push_back(fmt::format("resumed from {}: step {}, epoch {}, sample {} of the epoch (read and "
                              "loaded in {:.2f} s)", files.path, saved.step(), saved.loader_epoch() + 1,
                              saved.loader_sample(), seconds_since(start)));
  if (saved.world_size() != world_size() || saved.batch_size() != config_.data().batch_size() ||
      saved.accumulation_steps() != config_.distributed().accumulation_steps()) {
    notes.push_back(fmt::format(
        "the checkpoint was written by {} process{} with batch {} x {} micro-batches; this run has "
        "{} with batch {} x {}: it continues from the same sample with the new global batch",
        saved.world_size(), saved.world_size() == 1 ? "" : "es", saved.batch_size(),
        saved.accumulation_steps(), world_size(), config_.data().batch_size(),
        config_.distributed().accumulation_steps()));
  }
}

void Trainer::report_joining(double transfer_ms) {
  auto& notes = state_->notes;
  const auto& generation = options_.group->generation();
  MembershipReport report;
  report.transfer_ms = transfer_ms;
  report.step = state_->start_step;
  report.generation = generation.number;
  report.world_size = generation.world_size();
  report.lost = generation.lost;
  report.joined = generation.joined;
  // Its own wait in the rendezvous was for the survivors to notice the loss: theirs is the
  // figure (write_membership_report takes the largest), not a time to add.
  report.rendezvous_ms = 0;
  state_->membership = report;
  state_->resumed_step = state_->start_step;
  state_->joined_from_memory = true;
  notes.push_back(fmt::format("joined the running group as rank {} of {} (generation {}): the state "
                              "of step {} came from rank {}'s memory in {:.0f} ms",
                              generation.rank, generation.world_size(), generation.number,
                              state_->start_step, generation.source(), report.transfer_ms));
}

double Trainer::adopt_as_replacement() {
  // A member lost while it hands the state over moves everyone to the next generation, this
  // process included; if no member with state is left there, the disk path follows (resume()).
  for (int failed = 0;; ++failed) {
    try {
      return adopt_newest_state();
    } catch (const Error& error) {
      if (!recovers_from(error) || failed >= 8) throw;
    }
    state_->step.reset();
    state_->reducer.reset();
    options_.communicator.reset();
    options_.group->rejoin(-1);
    options_.communicator = options_.group->communicator();
    build_loaders();
    if (!joins_running_group()) {
      // No member holds state: the disk path, as fresh processes take it (trainer_setup.cpp's
      // first broadcast, then resume()).
      dist::broadcast_module_state(*model_, *options_.communicator);
      return 0;
    }
  }
}

void Trainer::mark_step_boundary() {
  state_->completed_position = state_->train_feeder->position();
  if (options_.group && options_.group->recovers_in_memory()) {
    torch::NoGradGuard no_grad;
    const auto buffers = model_->buffers();
    state_->completed_buffers.resize(buffers.size());
    for (size_t i = 0; i < buffers.size(); ++i) {
      if (!state_->completed_buffers[i].defined()) {
        state_->completed_buffers[i] = buffers[i].detach().clone();
      } else {
        state_->completed_buffers[i].copy_(buffers[i]);
      }
    }
  }
  state_->completed_rng = torch_rng_state();
  if (device_.is_cuda()) state_->completed_cuda_rng = torch_rng_state(device_);
}

ckpt::TrainState Trainer::capture_train_state(int64_t step) const {
  ckpt::TrainState state;
  const data::LoaderPosition& position = state_->completed_position;
  state.set_step(step);
  state.set_loader_epoch(position.epoch);
  state.set_loader_sample(position.sample);
  state.set_world_size(world_size());
  state.set_batch_size(config_.data().batch_size());
  state.set_accumulation_steps(config_.distributed().accumulation_steps());
  // Before the first step (nothing marked yet) the generators are as they are.
  const bool marked = !state_->completed_rng.empty();
  state.set_torch_rng_state(marked ? state_->completed_rng : torch_rng_state());
  if (device_.is_cuda()) {
    state.set_cuda_rng_state(marked ? state_->completed_cuda_rng : torch_rng_state(device_));
  }
  state.set_optimizer(config_.optimizer().name());
  state.set_skipped_steps(state_->skipped_steps);
  state.set_consecutive_skips(state_->consecutive_skips);
  ckpt::record_model_spec(task_->model_spec(), state);
  return state;
}

TrainingSnapshot Trainer::capture(int64_t step) const {
  TrainingSnapshot snapshot;
  snapshot.state = capture_train_state(step);
  // Parameters and optimizer state change only in the next optimizer step: they are copied by the
  // writer thread meanwhile (Checkpointer::wait_for_snapshot). Buffers (batch norm statistics)
  // change in the next forward pass: copied now.
  snapshot.model = ckpt::module_state(*model_, /*copy_parameters=*/false);
  snapshot.optimizer = optim::optimizer_state(
      *state_->optimizer, optim::optimizer_parameter_names(*state_->optimizer, *model_), /*copy=*/false);
  snapshot.config_text = config::config_to_text(config_);
  return snapshot;
}

double Trainer::save_checkpoint(int64_t step, bool wait) {
  auto* checkpointer = state_->checkpointer.get();
  if (!checkpointer || checkpointer->saved(step)) return 0;
  obs::TraceSpan span("checkpoint snapshot");
  const double held = checkpointer->save(step, [&] { return capture(step); }, wait);
  state_->outputs->write("checkpoint", step, state_->train_feeder->position().epoch,
                         {{"stall_ms", 1000.0 * held}});
  return held;
}

void Trainer::finish_checkpoints(int64_t step, TrainResult& result) {
  auto* checkpointer = state_->checkpointer.get();
  if (!checkpointer) return;
  const auto& policy = config_.checkpoint();
  if (result.stop_signal != 0 ? policy.on_signal() : policy.at_end()) save_checkpoint(step, /*wait=*/true);
  checkpointer->wait();
  // The last write is the one the run's result depends on: its failure ends the run with an error.
  if (const std::string error = checkpointer->take_error(); !error.empty()) {
    const auto kept = ckpt::newest_good_checkpoint(checkpointer->root());
    throw IoError(fmt::format("{}; the newest whole checkpoint is {}", error,
                              kept ? kept->path : std::string("none")));
  }
  result.last_checkpoint = checkpointer->last_committed();
}

void Trainer::check_checkpoint_errors() {
  if (!state_->checkpointer) return;
  const std::string error = state_->checkpointer->take_error();
  if (error.empty()) return;
  if (state_->checkpointer->config().on_error() == "stop") {
    throw IoError(error + " (checkpoint.on_error: stop)");
  }
  state_->outputs->progress().message(fmt::format(
      "warning: {}; the previous checkpoint is kept, the next one will retry", error));
}

}  // namespace trainrt::train
