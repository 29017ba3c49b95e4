#include "trainrt/app/training.h"

#include <unistd.h>

#include <mutex>

#include <fmt/format.h>

#include "trainrt/config/load.h"
#include "trainrt/core/device.h"
#include "trainrt/core/error.h"
#include "trainrt/core/plugin.h"
#include "trainrt/dist/connect.h"
#include "trainrt/dist/replica_group.h"
#include "trainrt/dist/spare.h"
#include "trainrt/dist/worker_env.h"
#include "trainrt/tasks/tasks.h"

namespace trainrt {

struct Training::State {
  config::TrainConfig config;
  TrainingOptions options;
  train::Callbacks callbacks;
  std::shared_ptr<models::Model> model;
  bool ran = false;
  std::mutex mutex;  // guards the two below: request_stop() may come from another thread
  bool stop_requested = false;
  train::Trainer* trainer = nullptr;
};

Training Training::from_file(const std::string& path, const std::vector<std::string>& overrides,
                             TrainingOptions options) {
  return Training(config::load_config(path, overrides), std::move(options));
}

Training Training::from_text(const std::string& text, const std::vector<std::string>& overrides,
                             TrainingOptions options, const std::string& source) {
  return Training(config::resolve_config(config::parse_config_text(text, source), overrides, source),
                  std::move(options));
}

Training::Training(config::TrainConfig config, TrainingOptions options) : state_(std::make_unique<State>()) {
  // Resolving an already resolved config changes nothing; a config built in code gets its
  // defaults made explicit and is validated.
  state_->config = config::resolve_config(std::move(config), {}, "the application's config");
  for (const auto& plugin : options.plugins) state_->config.add_plugins(plugin);
  state_->options = std::move(options);
}

Training::~Training() = default;
Training::Training(Training&&) noexcept = default;
Training& Training::operator=(Training&&) noexcept = default;

Training& Training::after_step(std::function<train::Action(const train::StepInfo&)> callback) {
  state_->callbacks.after_step = std::move(callback);
  return *this;
}

Training& Training::after_evaluation(std::function<train::Action(int64_t, const train::EvalResult&)> callback) {
  state_->callbacks.after_evaluation = std::move(callback);
  return *this;
}

Training& Training::on_checkpoint(std::function<void(const train::CommittedCheckpoint&)> callback) {
  state_->callbacks.on_checkpoint = std::move(callback);
  return *this;
}

const config::TrainConfig& Training::config() const { return state_->config; }

std::shared_ptr<models::Model> Training::model() const { return state_->model; }

void Training::request_stop() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->stop_requested = true;
  if (state_->trainer) state_->trainer->request_stop();
}

namespace {

// runs/<the config's name>, for a name that is a plain one (a name is free text otherwise: saved
// configs with any name still resume and export).
std::string default_run_dir(const config::TrainConfig& config) {
  const std::string& name = config.name();
  const bool plain = !name.empty() && name != "." && name != ".." &&
                     name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
                         std::string::npos;
  if (!plain) {
    throw ConfigError(fmt::format("name: '{}' is not a plain name (letters, digits, '.', '_', '-'), so "
                                  "runs/<name> cannot be the run directory: give one (--run-dir)", name));
  }
  return "runs/" + name;
}

}  // namespace

train::TrainResult Training::run() {
  if (state_->ran) throw ConfigError("Training::run: this training has run already; make a new one");
  state_->ran = true;
  const auto& config = state_->config;
  const auto& options = state_->options;
  load_plugins({config.plugins().begin(), config.plugins().end()});
  // Who this process is (a launcher's variables are checked before any data is read); several
  // processes on one node (torchrun, Slurm, mpirun) share its cores.
  auto identity = dist::worker_identity();
  auto task = tasks::make_task(config);
  // A spare has loaded everything a worker needs (its data, its model); it becomes one when its
  // launcher says which.
  train::TrainerOptions trainer_options;
  if (!identity.spare.empty()) {
    trainer_options.model_built_ahead = train::Trainer::build_model_ahead(config, *task);
    identity = dist::await_assignment(identity, dist::collective_timeout(config.distributed()));
  }
  trainer_options.run_dir = options.run_dir.empty() ? default_run_dir(config) : options.run_dir;
  trainer_options.progress_out = options.progress_out;
  trainer_options.interactive = options.progress_out && isatty(fileno(options.progress_out)) != 0;
  trainer_options.local_world_size = identity.local_world_size;
  trainer_options.local_rank = identity.local_rank;
  // A restarted worker (trainrt launch, torchrun) continues the job's own newest checkpoint: the one
  // its command line names is where the job started, and resuming it again would abandon (or, with
  // "never", refuse) what the job trained since.
  trainer_options.resume = identity.restart_count > 0 ? "auto" : options.resume;
  // ... with the change the command line's checkpoint accepted, when it was named.
  trainer_options.accept_config_changes =
      options.accept_config_changes || (identity.restart_count > 0 && options.resume != "auto" && options.resume != "never");
  trainer_options.stop_on_signal = options.stop_on_signal;
  trainer_options.initial_weights = options.initial_weights;
  trainer_options.callbacks = state_->callbacks;
  if (identity.world_size > 1) {
    // The device first: NCCL binds its communicator to the current CUDA device.
    const auto device = choose_device(config.runtime().device(), identity.local_rank);
    trainer_options.group = dist::ReplicaGroup::join(identity, config.distributed(), device.is_cuda(),
                                                     trainer_options.run_dir + "/flight");
  }
  train::Trainer trainer(config, task, trainer_options);
  state_->model = trainer.shared_model();
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->trainer = &trainer;
    if (state_->stop_requested) trainer.request_stop();
  }
  struct Unregister {
    State& state;
    ~Unregister() {
      std::lock_guard<std::mutex> lock(state.mutex);
      state.trainer = nullptr;
    }
  } unregister{*state_};
  return trainer.run();
}

}  // namespace trainrt
