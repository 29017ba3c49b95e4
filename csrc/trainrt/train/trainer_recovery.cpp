#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "trainrt/dist/flight_recorder.h"
#include "trainrt/ckpt/train_state.pb.h"
#include "trainrt/core/clock.h"
#include "trainrt/core/error.h"
#include "trainrt/core/fault_injection.h"
#include "trainrt/dist/rank_reduce.h"
#include "trainrt/dist/replica_group.h"
#include "trainrt/dist/replicas.h"
#include "trainrt/optim/state.h"
#include "trainrt/train/checkpoint_state.h"
#include "trainrt/train/trainer.h"
#include "trainrt/train/trainer_loop.h"
#include "trainrt/train/trainer_state.h"

// Recovery from the replicas' memory (docs/RELIABILITY.md): when a rank is lost, the others keep
// their state, meet its replacement (or go on without it) in a new generation of the group
// (dist/replica_group.h), and every rank takes the newest state one of them holds. A replacement
// takes the same path from its constructor (joins_running_group, resume()).
namespace trainrt::train {
namespace {

double ms_since(Clock::time_point start) { return 1000.0 * seconds_since(start); }

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace

bool Trainer::joins_running_group() const {
  return options_.group && options_.group->recovers_in_memory() &&
         options_.group->generation().source() >= 0;
}

bool Trainer::recovers_from(const Error& error) const {
  return options_.group && options_.group->recovers_in_memory() &&
         error.kind() == Error::Kind::kDistributed;
}

bool Trainer::recovers_from_network_error(const std::system_error& error) const {
  if (!options_.group || !options_.group->recovers_in_memory()) return false;
  if (dynamic_cast<const std::filesystem::filesystem_error*>(&error)) return false;
  if (error.code().category() != std::system_category() && error.code().category() != std::generic_category()) {
    return false;
  }
  switch (error.code().value()) {
    case ECONNRESET: case ECONNREFUSED: case ECONNABORTED: case EPIPE: case ETIMEDOUT: case ENOTCONN:
    case EHOSTUNREACH: case ENETUNREACH:
      return true;
    default:
      return false;
  }
}

double Trainer::adopt_newest_state() {
  const auto start = Clock::now();
  auto& communicator = *options_.communicator;
  const dist::Generation& generation = options_.group->generation();
  const int source = generation.source();
  const int64_t my_step = generation.members[generation.rank].step;
  const bool is_source = rank() == source;
  // Every member holds the newest state already (ranks were only lost): nothing to hand over.
  const bool all_current = std::all_of(generation.members.begin(), generation.members.end(),
                                       [&](const dist::Member& m) { return m.step == generation.newest_step(); });
  if (all_current) {
    // As the last whole step left them: the failed step's forward pass drew from the generators.
    if (!state_->completed_rng.empty()) set_torch_rng_state(state_->completed_rng, "the last step's state");
    if (device_.is_cuda() && !state_->completed_cuda_rng.empty()) {
      set_torch_rng_state(state_->completed_cuda_rng, "the last step's state", device_);
    }
    state_->start = state_->completed_position;
    state_->start_step = my_step;
    state_->adopted_from_memory = true;
    return ms_since(start);
  }
  // Where the newest replica stands first: step, loader position, random generators.
  std::string header_bytes = is_source ? capture_train_state(my_step).SerializeAsString() : "";
  header_bytes = dist::broadcast_bytes(header_bytes, communicator, source);
  ckpt::TrainState header;
  header.ParseFromString(header_bytes);
  fault_injection::point("transfer", header.step());
  // Then the tensors: parameters and buffers, and the optimizer's state (which a new process does
  // not have yet, hence its layout travels too). Until the last arrives this process's state is
  // mixed, and it must not offer it to another handover.
  state_->receiving_state = !is_source && my_step != header.step();
  dist::broadcast_module_state(*model_, communicator, source);
  auto& optimizer = *state_->optimizer;
  const auto names = optim::optimizer_parameter_names(optimizer, *model_);
  const TensorDict received = dist::broadcast_tensor_dict(
      is_source ? optim::optimizer_state(optimizer, names, /*copy=*/false) : TensorDict{},
      communicator, source, device_);
  const std::string from = fmt::format("rank {}'s state of step {}", source, header.step());
  if (!is_source && my_step != header.step()) {
    // The received tensors are this process's alone: the optimizer keeps them, uncopied.
    optim::load_optimizer_state(optimizer, names, {received.begin(), received.end()}, from, /*copy=*/false);
  }
  set_torch_rng_state(header.torch_rng_state(), from);
  if (device_.is_cuda() && header.has_cuda_rng_state()) {
    set_torch_rng_state(header.cuda_rng_state(), from, device_);
  }
  state_->receiving_state = false;
  state_->adopted_from_memory = true;
  state_->skipped_steps = header.skipped_steps();
  state_->consecutive_skips = header.consecutive_skips();
  state_->start = {header.loader_epoch(), header.loader_sample()};
  state_->completed_position = state_->start;
  state_->completed_rng = header.torch_rng_state();
  state_->completed_cuda_rng = device_.is_cuda() ? torch_rng_state(device_) : std::string();
  state_->start_step = header.step();
  return ms_since(start);
}

void Trainer::recover(Loop& loop, const std::string& cause) {
  auto& group = *options_.group;
  const double detect_ms = ms_since(loop.boundary);
  const int old_rank = rank(), old_world_size = world_size();
  auto& progress = state_->outputs->progress();
  progress.message(fmt::format("step {}: {}; recovering from the replicas' memory", loop.step + 1,
                               first_line(cause)));
  // Note [a step is a transaction]: the failed step changed nothing but its gradients, which go
  // with the reducer; the communicator goes before the rendezvous, so that a peer still waiting
  // on this process's connections fails at once and comes too.
  // The last checkpoint's copy of the parameters completes before a handover may change them.
  if (state_->checkpointer) state_->checkpointer->wait_for_snapshot();
  // The failed step's forward pass moved the buffers (batch norm statistics): back to the step's
  // start, as the parameters and optimizer state still are.
  restore_step_boundary_buffers();
  state_->step.reset();
  state_->reducer.reset();
  options_.communicator.reset();
  // A handover cut short left this process's state mixed: it rejoins as one without state.
  group.rejoin(state_->receiving_state ? -1 : loop.step);
  const auto& generation = group.generation();
  if (generation.source() < 0) {
    throw Error(Error::Kind::kData,
                fmt::format("rank id {}: every replica's state was lost (a member died while "
                            "handing it over): training cannot go on from memory; a restart "
                            "resumes from the newest checkpoint", old_rank));
  }
  options_.communicator = group.communicator();
  if (generation.rank != old_rank || generation.world_size() != old_world_size) {
    build_loaders();  // new shares of each global batch (and the reducer over them)
  } else {
    build_reducer();
  }
  const double transfer_ms = adopt_newest_state();
  // A joining process starts with a fresh loop, which has not evaluated: every rank must decide
  // alike whether the recovered epoch's end is evaluated (it is, again, on every rank). A survivor
  // that kept its own flag skipped that evaluation while the joiner ran it, and the ranks issued
  // different collectives (the flight recorder's "evaluation totals" against "gradient bucket 0").
  loop.evaluated_last_step = false;
  // Rank 0 writes the run's outputs and checkpoints: whoever is rank 0 now.
  if ((old_rank == 0) != (generation.rank == 0)) {
    if (state_->checkpointer) state_->checkpointer->wait();
    state_->checkpointer.reset();
    state_->outputs.reset();
    // Rank 0 no more: the new one takes the run directory over (open_outputs waits for it).
    if (generation.rank != 0) release_run_directory();
    open_outputs(/*keep_metrics_up_to=*/state_->start_step);
  }

  MembershipReport report;
  report.step = state_->start_step;
  report.generation = generation.number;
  report.world_size = generation.world_size();
  report.lost = generation.lost;
  report.joined = generation.joined;
  report.detect_ms = detect_ms;
  report.rendezvous_ms = generation.rendezvous_ms;
  report.transfer_ms = transfer_ms;
  report.downtime_ms = ms_since(loop.boundary);
  // Every rank continues from the newest state: no completed step is lost.
  report.redone_steps = 0;
  state_->membership = report;
  write_membership_report();

  loop.step = state_->start_step;
  loop.interval = IntervalReport();
  loop.policy.restore(state_->skipped_steps, state_->consecutive_skips);
  loop.boundary = Clock::now();
}

void Trainer::restore_step_boundary_buffers() {
  torch::NoGradGuard no_grad;
  const auto buffers = model_->buffers();
  if (state_->completed_buffers.size() != buffers.size()) return;  // none kept yet
  for (size_t i = 0; i < buffers.size(); ++i) buffers[i].copy_(state_->completed_buffers[i]);
}

void Trainer::write_membership_report() {
  if (!state_->membership) return;
  MembershipReport& report = *state_->membership;
  // A replacement knows only its own part: each figure is the largest any rank measured (the
  // survivors'), agreed in one small all-reduce.
  std::vector<double> figures{report.detect_ms, report.rendezvous_ms, report.transfer_ms, report.downtime_ms};
  std::vector<double> maxima = figures;
  if (options_.communicator) {
    const auto& members = options_.group->generation().members;
    std::vector<double> all(figures.size() * members.size(), 0.0);
    std::copy(figures.begin(), figures.end(), all.begin() + figures.size() * rank());
    dist::CollectivePurpose purpose("recovery account");
    dist::sum_over_ranks(options_.communicator.get(), all);
    for (size_t r = 0; r < members.size(); ++r) {
      for (size_t i = 0; i < figures.size(); ++i) maxima[i] = std::max(maxima[i], all[r * figures.size() + i]);
    }
  }
  report.detect_ms = maxima[0];
  report.rendezvous_ms = maxima[1];
  report.transfer_ms = maxima[2];
  report.downtime_ms = maxima[3];
  const int64_t epoch = state_->start.epoch;
  state_->outputs->write("membership", report.step, epoch, report.values(), report.labels());
  state_->outputs->progress().message(report.describe());
  state_->membership.reset();
}

}  // namespace trainrt::train
