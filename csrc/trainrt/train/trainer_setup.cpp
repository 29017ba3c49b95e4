#include "trainrt/train/trainer.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "trainrt/ckpt/catalog.h"
#include "trainrt/ckpt/state_dict.h"
#include "trainrt/core/device.h"
#include "trainrt/core/error.h"
#include "trainrt/core/files.h"
#include "trainrt/core/runtime.h"
#include "trainrt/dist/connect.h"
#include "trainrt/dist/replica_group.h"
#include "trainrt/dist/replicas.h"
#include "trainrt/models/registry.h"
#include "trainrt/optim/optimizer.h"
#include "trainrt/train/checkpoint_state.h"
#include "trainrt/train/evaluation.h"
#include "trainrt/train/step_plan.h"
#include "trainrt/train/trainer_state.h"

// Building a Trainer: the device and threads, the model and its first weights, the replicas'
// reducer and the optimizer, the loaders, the step plan (after a resume found where to start) and
// the outputs.
namespace trainrt::train {
namespace {

// Intra-op threads when a GPU computes: the host only launches kernels, the cores go to the loader.
constexpr int kHostThreadsWithGpu = 2;

int64_t parameter_count(torch::nn::Module& model) {
  int64_t count = 0;
  for (const auto& parameter : model.parameters()) count += parameter.numel();
  return count;
}

// Loader threads when the config says "automatic": this process's share of the cores less its
// compute threads, at least 1.
int automatic_loader_threads(int compute_threads, int local_world_size) {
  return std::max(1, available_cores() / std::max(1, local_world_size) - compute_threads);
}

}  // namespace

Trainer::Trainer(config::TrainConfig config, std::shared_ptr<const Task> task,
                 TrainerOptions options)
    : config_(std::move(config)), task_(std::move(task)), options_(std::move(options)),
      state_(std::make_unique<State>()) {
  set_up_runtime();
  build_model();
  build_loaders();
  // Before resume(), which may set checkpoints aside. A process joining a running group as rank 0
  // takes it over later (open_outputs), once the state is handed over: the rank 0 it replaces
  // lets go only after that.
  if (!joins_running_group()) hold_run_directory(/*wait_for_holder=*/false);
  resume();
  const auto& data = config_.data();
  const auto& start = state_->start;
  total_steps_ = plan_steps({task_->train_set()->size(), data.batch_size(), launched_world_size(),
                             config_.distributed().accumulation_steps(), config_.train().epochs(),
                             config_.train().max_steps(), state_->start_step, start.epoch,
                             start.sample}).total_steps;
  open_outputs(state_->resumed_step);
  record_config_changes();
}

void Trainer::set_up_runtime() {
  device_ = choose_device(config_.runtime().device(), options_.local_rank);
  bfloat16_ = uses_bfloat16(config_.runtime().precision());
  if (config_.runtime().deterministic()) use_deterministic_kernels();
  // On a GPU the host threads only launch kernels; the cores go to the loader instead.
  compute_threads_ = config_.runtime().threads() > 0 ? config_.runtime().threads()
                     : device_.is_cuda() ? kHostThreadsWithGpu
                                         : default_compute_threads(options_.local_world_size);
  configure_process_runtime(compute_threads_);
  torch::manual_seed(config_.seed());  // seeds the CUDA generators too
  if (options_.group) options_.communicator = options_.group->communicator();
  if (options_.communicator && options_.communicator->world_size() == 1) options_.communicator.reset();
}

ModelBuiltAhead Trainer::build_model_ahead(const config::TrainConfig& config, const Task& task) {
  torch::manual_seed(config.seed());
  ModelBuiltAhead built;
  built.model = models::ModelRegistry::instance().create(config.model(), task.model_spec());
  built.rng_state = torch_rng_state();
  return built;
}

void Trainer::build_model() {
  if (options_.model_built_ahead) {
    // Built after the same seed (set_up_runtime's): the generator goes on from where it left it.
    model_ = std::move(options_.model_built_ahead->model);
    set_torch_rng_state(options_.model_built_ahead->rng_state, "the model built ahead");
    options_.model_built_ahead.reset();
  } else {
    model_ = models::ModelRegistry::instance().create(config_.model(), task_->model_spec());
  }
  if (!options_.initial_weights.empty()) {  // a resumed checkpoint replaces them (resume())
    const auto bytes = read_whole_file(options_.initial_weights);
    if (!bytes) throw IoError(fmt::format("initial weights {}: cannot read the file", options_.initial_weights));
    ckpt::load_model_state(*model_, *bytes, options_.initial_weights);
  }
  model_->to(device_);
  // Replicas start as rank 0's copy; a process joining a running group receives the newest state
  // instead (resume()).
  if (options_.communicator && !joins_running_group()) {
    dist::broadcast_module_state(*model_, *options_.communicator);
  }
  state_->optimizer = optim::make_optimizer(config_.optimizer(), model_->parameters());
  state_->schedule = std::make_unique<optim::Schedule>(config_.schedule(), config_.optimizer().lr());
}

void Trainer::build_loaders() {
  const auto& data = config_.data();
  data::LoaderOptions train_options;
  // Each global batch keeps its size whatever the ranks (a group that lost one and goes on
  // without it): the ranks share it, unequally when it does not divide (data/sampler.h).
  const int64_t global_batch = data.batch_size() * launched_world_size();
  train_options.batch_size = (global_batch + world_size() - 1) / world_size();
  train_options.global_batch = global_batch;
  train_options.threads = loader_threads();
  train_options.prefetch = data.loader().prefetch();
  train_options.shuffle = true;
  train_options.remainder = data::Remainder::kDrop;
  train_options.seed = config_.seed();
  train_options.skip_bad_samples = data.skip_bad_samples();
  train_options.rank = rank();
  train_options.world_size = world_size();
  train_options.pin_memory = device_.is_cuda();
  state_->train_loader = std::make_unique<data::Loader>(task_->train_set(),
                                                        task_->train_collator(), train_options);
  data::LoaderOptions eval_options = train_options;
  eval_options.batch_size = data.eval_batch_size();
  eval_options.global_batch = 0;
  eval_options.shuffle = false;
  eval_options.remainder = data::Remainder::kPartial;
  state_->eval_loader = std::make_unique<data::Loader>(task_->eval_set(), task_->eval_collator(),
                                                       eval_options);
  state_->train_feeder = std::make_unique<data::DeviceFeeder>(*state_->train_loader, device_);
  state_->eval_feeder = std::make_unique<data::DeviceFeeder>(*state_->eval_loader, device_);
  OptimizerStepOptions step_options;
  step_options.accumulation = config_.distributed().accumulation_steps();
  step_options.grad_clip_norm = config_.optimizer().grad_clip_norm();
  step_options.skip_nonfinite = config_.train().on_nonfinite() == "skip";
  step_options.device_type = device_.type();
  step_options.bfloat16 = bfloat16_;
  state_->step_options = step_options;
  build_reducer();
}

void Trainer::build_reducer() {
  state_->step.reset();
  state_->reducer.reset();  // its hooks go before the new reducer's are added
  if (options_.communicator) {
    dist::ReducerOptions reducer_options = dist::reducer_options(config_.distributed());
    const auto& loader = state_->train_loader->options();
    reducer_options.rows = data::share_of(loader.global_batch, rank(), world_size()).count;
    reducer_options.global_rows = loader.global_batch;
    state_->reducer = std::make_unique<dist::GradientReducer>(model_->parameters(),
                                                              options_.communicator, reducer_options);
  }
  state_->step = std::make_unique<OptimizerStep>(*model_, *task_, *state_->optimizer,
                                                 state_->reducer.get(), *state_->train_feeder,
                                                 state_->step_options);
}

void Trainer::hold_run_directory(bool wait_for_holder) {
  if (rank() != 0 || state_->run_lock) return;
  const auto wait = std::chrono::milliseconds(
      wait_for_holder ? static_cast<int64_t>(config_.distributed().timeout_seconds() * 1000.0) : 0);
  state_->run_lock = std::make_unique<DirectoryLock>(options_.run_dir, "run directory", wait);
  if (!state_->run_lock->held()) {
    state_->notes.push_back(fmt::format("run directory {}: this file system cannot lock it (no flock); nothing "
                                        "stops a second job writing it", options_.run_dir));
  }
  // A checkpoint.dir of its own is locked too: two jobs must not share it either.
  namespace fs = std::filesystem;
  std::error_code error;
  const fs::path inside = fs::weakly_canonical(checkpoint_root(), error)
                              .lexically_relative(fs::weakly_canonical(options_.run_dir, error));
  if (inside.empty() || *inside.begin() == "..") {
    state_->checkpoint_lock = std::make_unique<DirectoryLock>(checkpoint_root(), "checkpoint directory", wait);
  }
}

void Trainer::release_run_directory() {
  state_->checkpoint_lock.reset();
  state_->run_lock.reset();
}

void Trainer::record_config_changes() {
  for (const auto& change : state_->config_changes) {
    state_->outputs->write("config_change", state_->resumed_step, state_->start.epoch, {},
                           {{"field", change.field}, {"checkpoint", change.before}, {"run", change.after}});
  }
  state_->config_changes.clear();
}

void Trainer::open_outputs(int64_t keep_metrics_up_to) {
  hold_run_directory(/*wait_for_holder=*/true);  // a rank that became rank 0 in a recovery takes it over
  RunOutputs::Options options;
  options.run_dir = options_.run_dir;
  options.rank = rank();
  options.progress_out = options_.progress_out;
  options.interactive = options_.interactive;
  options.resumed_step = keep_metrics_up_to;
  state_->outputs = std::make_unique<RunOutputs>(config_, options, state_->notes);
  if (rank() == 0) {
    state_->checkpointer = std::make_unique<Checkpointer>(config_.checkpoint(), checkpoint_root(),
                                                          keep_metrics_up_to);
  }
}

std::string Trainer::checkpoint_root() const {
  return config_.checkpoint().dir().empty()
             ? options_.run_dir + "/" + ckpt::kCheckpointsFolder
             : config_.checkpoint().dir();
}

int Trainer::rank() const { return options_.communicator ? options_.communicator->rank() : 0; }

int Trainer::launched_world_size() const {
  return options_.group ? options_.group->launched_world_size() : world_size();
}

int Trainer::world_size() const {
  return options_.communicator ? options_.communicator->world_size() : 1;
}

Trainer::~Trainer() = default;

int Trainer::loader_threads() const {
  const int configured = config_.data().loader().threads();
  return configured > 0 ? configured
                        : automatic_loader_threads(compute_threads_, options_.local_world_size);
}

EvalResult Trainer::evaluate() {
  return train::evaluate(*model_, *task_, *state_->eval_feeder,
                         {device_.type(), bfloat16_, options_.communicator.get()});
}

void Trainer::print_header() {
  auto& progress = state_->outputs->progress();
  const int accumulation = config_.distributed().accumulation_steps();
  progress.message(fmt::format(
      "trainrt: {} | model {} ({} parameters) on {}{} | {} train / {} eval samples | batch {} x {} "
      "process{}{} | {} steps | {} compute + {} loader threads | run dir {}",
      config_.name(), config_.model().name(), parameter_count(*model_), device_.str(),
      bfloat16_ ? " in bfloat16" : "", task_->train_set()->size(), task_->eval_set()->size(),
      config_.data().batch_size(), world_size(), world_size() == 1 ? "" : "es",
      accumulation > 1 ? fmt::format(" x {} micro-batches", accumulation) : std::string(),
      total_steps_, compute_threads_, loader_threads(), options_.run_dir));
  if (auto* reducer = state_->reducer.get()) {
    const bool memory = options_.group && options_.group->recovers_in_memory();
    progress.message(fmt::format(
        "data parallel: {} ranks over {}, {} gradient buckets; a lost rank {}", world_size(),
        options_.communicator->backend(), reducer->buckets().size(),
        memory ? "is recovered from the others' memory"
               : "restarts the group from the newest checkpoint (the launcher restarts every worker; "
                 "trainrt launch --recovery memory keeps the others training)"));
  }
  for (const auto& note : state_->notes) progress.message(note);
}

}  // namespace trainrt::train
