// defines: Trainer, TrainerOptions, Callbacks, StepInfo, CommittedCheckpoint, Action, TrainResult
//
// The training loop: each step (train/optimizer_step.h) takes the next batch from the prefetching
// loader, runs forward and backward, clips gradients, sets the scheduled learning rate and steps
// the optimizer; the interval report (train/interval_report.h) writes metrics.jsonl, TensorBoard
// and the log line, evaluation (train/evaluation.h) runs at the configured cadence, the ranks
// agree to stop (train/stop_agreement.h). It knows nothing of a particular task (train/task.h) or
// model (models/registry.h). Trainer::run reads as the step list of docs/ARCHITECTURE.md.
//
// Devices: the model, its gradients and the optimizer state live on runtime.device (a CUDA device
// per process, or the CPU); batches reach it through data::DeviceFeeder. runtime.precision
// bfloat16 runs forward and loss under autocast, with float32 weights and optimizer state.
//
// Data parallel: given a communicator (dist/connect.h), each process is one replica. The model
// starts as rank 0's copy, each rank loads its slice of every global batch, gradients are averaged
// by the bucketed reducer (dist/reducer.h) and metrics are reduced across ranks; only rank 0
// prints and writes files (metrics.jsonl, TensorBoard event files; each rank its own scalars with
// observe.per_rank_scalars). Each log line breaks a step's time down into data wait, compute,
// exposed communication, optimizer and checkpoint; observe.trace_file records a timeline. With distributed.accumulation_steps = k, an optimizer step takes k
// micro-batches and communicates once.
//
// Checkpoints (train/checkpointer.h, config's `checkpoint` section): rank 0 captures the state at
// step boundaries and writes it in the background; a new Trainer resumes from one
// (TrainerOptions::resume) and continues exactly as the interrupted run would have: same
// parameters, same batches, same losses, bit for bit at the same world size.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <system_error>
#include <memory>
#include <string>

#include "trainrt/config/trainrt.pb.h"
#include "trainrt/core/error.h"
#include "trainrt/train/results.h"
#include "trainrt/train/task.h"

// Declared only: communicators are private (dist/communicator.h); Training connects one itself.
namespace trainrt::ckpt {
class TrainState;
}  // namespace trainrt::ckpt
namespace trainrt::dist {
class Communicator;
class ReplicaGroup;
}  // namespace trainrt::dist

namespace trainrt::train {

struct ResumeFiles;  // train/checkpoint_state.h

struct TrainingSnapshot;  // train/checkpoint_state.h

// What a callback asks of the trainer.
enum class Action { kContinue, kStop };

struct StepInfo {
  int64_t step = 0;         // optimizer steps done, this one included
  int64_t epoch = 0;        // 0-based
  int64_t total_steps = 0;
  double learning_rate = 0;
  // This rank's mean loss of the step, 0-dim float64 on the training device. Reading it (.item())
  // waits for a GPU to finish the step: a callback that does so every step slows a GPU run.
  torch::Tensor loss;
};

struct CommittedCheckpoint {
  int64_t step = 0;
  std::string path;  // the checkpoint's directory, whole on disk
};

// Functions an application runs inside training (all optional). They run on the training thread
// of every rank, at step boundaries; an exception thrown from one ends the run with it. kStop ends
// training after the current step on every rank (all ranks stop at the same step), with the
// checkpoint `checkpoint.at_end` asks for.
struct Callbacks {
  std::function<Action(const StepInfo&)> after_step;
  // After each evaluation, with its result (the same on every rank).
  std::function<Action(int64_t step, const EvalResult&)> after_evaluation;
  // Rank 0, once a checkpoint is committed (a background write is reported at the next step
  // boundary after it finished, or at the end).
  std::function<void(const CommittedCheckpoint&)> on_checkpoint;
};

// A model built from a config before its Trainer, and the global generator's state right after
// (so that a run draws the same numbers whether it built its model itself or took this one).
struct ModelBuiltAhead {
  std::shared_ptr<models::Model> model;
  std::string rng_state;
};

struct TrainerOptions {
  std::string run_dir = "runs/default";  // created if missing
  std::FILE* progress_out = stdout;
  bool interactive = false;              // draw a progress bar instead of plain lines
  // Processes sharing this node's cores (LOCAL_WORLD_SIZE); sizes the automatic thread counts.
  int local_world_size = 1;
  // This process's index on its node (LOCAL_RANK): with runtime.device cuda, the device it uses.
  int local_rank = 0;
  // The data-parallel group this process trains in; null for a single process.
  std::shared_ptr<dist::Communicator> communicator;
  // The same group across its generations (dist/replica_group.h), when it recovers from the
  // replicas' memory: a lost rank is replaced (or left out) and training goes on. When set, it
  // supplies `communicator`.
  std::shared_ptr<dist::ReplicaGroup> group;
  // Which checkpoint to start from: "auto" (the newest whole one, if any), "never", or a path
  // (train/checkpoint_state.h: find_resume_files).
  std::string resume = "never";
  // Resume a checkpoint written with a config that changes what training computes (another
  // learning rate, model, data, ...): refused by default when `resume` is "auto", since the
  // checkpoint may be another job's (train/checkpoint_state.h ResumeRequest); every change is then
  // recorded in metrics.jsonl ("config_change" lines). Naming the checkpoint in `resume` accepts.
  bool accept_config_changes = false;
  // Once train::stop_signal() reports SIGTERM or SIGINT (the program called
  // catch_stop_signals()), every rank stops at the same step boundary and rank 0 writes a
  // checkpoint (checkpoint.on_signal).
  bool stop_on_signal = false;
  // A state dict file (a checkpoint's model.pt, a bundle's weights.pt, PyTorch's
  // torch.save(model.state_dict())) the model starts from when no checkpoint is resumed: fine-tuning.
  std::string initial_weights;
  // The model built ahead from the same config (Trainer::build_model_ahead): a spare builds it
  // while it waits for a rank, so that a replacement receives the state into memory it has
  // already (a 100M-parameter model takes half a second to build). Used once, instead of a new one.
  std::optional<ModelBuiltAhead> model_built_ahead;
  Callbacks callbacks;
};

struct TrainResult {
  int64_t steps = 0;
  EvalResult eval;           // the final evaluation
  double train_seconds = 0;  // time in the training loop, evaluation excluded
  StepTimes last_interval;   // the last log interval's step-time means
  int64_t resumed_step = -1; // the checkpoint's step this run continued from (-1: a fresh start)
  int stop_signal = 0;       // the signal that stopped training early (0: none)
  bool stop_requested = false;  // a callback or request_stop() ended training early
  int64_t skipped_steps = 0;    // steps skipped for non-finite gradients (train.on_nonfinite: skip)
  std::string last_checkpoint;  // the directory of the last checkpoint written ("" if none)
};

class Trainer {
 public:
  // `config` must be resolved (config::resolve_config / load_config). Sets the compute threads
  // and seeds, builds the model, optimizer and loaders.
  Trainer(config::TrainConfig config, std::shared_ptr<const Task> task, TrainerOptions options);
  ~Trainer();
  // Seeds the global generator with the config's seed and builds its model on the CPU, as the
  // constructor would: for TrainerOptions::model_built_ahead.
  static ModelBuiltAhead build_model_ahead(const config::TrainConfig& config, const Task& task);

  TrainResult run();
  EvalResult evaluate();
  // Asks run() to stop after the step it is in, as a callback's kStop does. Safe from any thread
  // (e.g. an application's UI thread) and from a signal handler.
  void request_stop() { stop_requested_.store(true); }

  models::Model& model() { return *model_; }
  std::shared_ptr<models::Model> shared_model() const { return model_; }
  // Where the model trains (config's runtime.device, core/device.h).
  torch::Device device() const { return device_; }
  int64_t total_steps() const { return total_steps_; }
  int rank() const;
  int world_size() const;
  int compute_threads() const { return compute_threads_; }
  int loader_threads() const;
  // Where checkpoints go: config's checkpoint.dir, or RUN_DIR/checkpoints.
  std::string checkpoint_root() const;

 private:
  struct State;
  struct Loop;
  // The constructor's parts, in order.
  void set_up_runtime();
  void build_model();
  void build_loaders();
  // Rank 0 takes the run directory's lock (core/directory_lock.h), waiting for a holder to let it
  // go if `wait_for_holder` (a recovery that moved rank 0); a process no longer rank 0 releases it.
  void hold_run_directory(bool wait_for_holder);
  void release_run_directory();
  // Rank 0's metrics.jsonl keeps its lines up to `keep_metrics_up_to` (-1: a fresh run's).
  void open_outputs(int64_t keep_metrics_up_to);
  // metrics.jsonl's "config_change" lines: how this run's config differs from its checkpoint's.
  void record_config_changes();
  // Sets the model, optimizer, RNG and start position from a checkpoint if options_.resume finds
  // one.
  void resume();
  // resume()'s parts: a checkpoint's files loaded (`start`: when resuming began, for the note), and
  // a process that joined a running group reporting where its state came from.
  void load_resume_files(const ResumeFiles& files, std::chrono::steady_clock::time_point start);
  void report_joining(double transfer_ms);
  // run()'s parts.
  void print_header();
  // One optimizer step and its progress; false when the loader ran dry.
  bool train_step(Loop& loop);
  void report_interval(Loop& loop);
  void evaluate_and_report(Loop& loop, double epoch_seconds);  // epoch_seconds > 0: an epoch's end
  void after_step(Loop& loop);
  void end_epoch(Loop& loop, double epoch_seconds);
  TrainResult finish(Loop& loop);
  // Reports a committed checkpoint not reported yet to the application (rank 0).
  void report_checkpoint(Loop& loop);
  bool ranks_agree_to_stop(Loop& loop);
  // The epochs from state_->start on (run()'s body between recoveries).
  void train_epochs(Loop& loop);
  // Recovery from the replicas' memory (trainer_recovery.cpp). Whether `error` is one this run
  // recovers from: a collective that failed in a group that recovers in memory.
  bool recovers_from(const Error& error) const;
  // The same for a bare network error (a reset store connection) in a group that recovers in memory.
  bool recovers_from_network_error(const std::system_error& error) const;
  // After a lost rank (`cause`) or for a joining process: the next generation of the group, the
  // newest state on every rank, the loop moved to it.
  void recover(Loop& loop, const std::string& cause);
  // Every rank takes the newest state any member holds (collective over the group's generation);
  // returns the milliseconds it took.
  double adopt_newest_state();
  // adopt_newest_state for a replacement in its constructor, into the next generation while a
  // member is lost during the handover; 0 ms if no member with state is left (the disk path).
  double adopt_as_replacement();
  // The reducer and optimizer step over the current communicator (after a new generation).
  void build_reducer();
  // The state after `step` for a checkpoint (rank 0).
  TrainingSnapshot capture(int64_t step) const;
  // Records where a whole step left the loader and the random generators (capture_train_state's).
  void mark_step_boundary();
  // Its step, loader position, random generators and shape: what a checkpoint's train_state.pb
  // holds, and what a replica hands to a replacement first.
  ckpt::TrainState capture_train_state(int64_t step) const;
  // The ranks the job was launched with (world_size() is fewer after ranks were lost for good):
  // each global batch holds data.batch_size x this many samples.
  int launched_world_size() const;
  // Whether this process joins a group that is already training (a replacement): it receives the
  // newest state from the others instead of broadcasting or resuming.
  bool joins_running_group() const;
  // The model's buffers as the last whole step left them (mark_step_boundary's copy).
  void restore_step_boundary_buffers();
  // Rank 0 writes a membership change waiting in state_ (metrics.jsonl, TensorBoard, the log).
  void write_membership_report();
  // Writes a checkpoint of the state after `step` if none is (rank 0); `wait` for it to finish.
  // Returns the seconds training was held up.
  double save_checkpoint(int64_t step, bool wait);
  // Collects every rank's trace spans into observe.trace_file (collective).
  void write_trace();
  // Reports a failed background write; throws if the config says to stop.
  void check_checkpoint_errors();
  // The last checkpoint (at the end, or after a stop signal), waited for; throws if it failed.
  void finish_checkpoints(int64_t step, TrainResult& result);
  config::TrainConfig config_;
  std::shared_ptr<const Task> task_;
  TrainerOptions options_;
  int compute_threads_ = 1;
  torch::Device device_ = torch::kCPU;
  bool bfloat16_ = false;  // runtime.precision: autocast for forward and loss
  std::shared_ptr<models::Model> model_;
  int64_t total_steps_ = 0;
  std::unique_ptr<State> state_;
  std::atomic<bool> stop_requested_{false};
};

}  // namespace trainrt::train
