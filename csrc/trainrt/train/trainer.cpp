#include "trainrt/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "trainrt/ckpt/catalog.h"
#include "trainrt/config/load.h"
#include "trainrt/core/device.h"
#include "trainrt/core/error.h"
#include "trainrt/core/fault_injection.h"
#include "trainrt/core/files.h"
#include "trainrt/core/runtime.h"
#include "trainrt/data/device_feeder.h"
#include "trainrt/data/loader.h"
#include "trainrt/dist/connect.h"
#include "trainrt/dist/reducer.h"
#include "trainrt/dist/replicas.h"
#include "trainrt/models/registry.h"
#include "trainrt/ckpt/commit.h"
#include "trainrt/obs/event_writer.h"
#include "trainrt/obs/metrics_log.h"
#include "trainrt/obs/progress.h"
#include "trainrt/obs/trace.h"
#include "trainrt/optim/optimizer.h"
#include "trainrt/optim/schedule.h"
#include "trainrt/optim/state.h"
#include "trainrt/train/checkpoint_state.h"
#include "trainrt/train/checkpointer.h"
#include "trainrt/train/stop_signals.h"

namespace trainrt::train {
namespace {

using Clock = std::chrono::steady_clock;

// Intra-op threads when a GPU computes: the host only launches kernels, the cores go to the loader.
constexpr int kHostThreadsWithGpu = 2;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void make_directories(const std::string& path) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) {
    throw IoError(fmt::format("cannot create directory '{}': {}", path, error.message()));
  }
}

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out) throw IoError(with_errno(fmt::format("cannot write '{}'", path)));
}

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

// Sums over the steps since the last log line.
struct Interval {
  // The steps' losses summed on the device: a GPU run reads it once per interval, not every step
  // (reading waits for the GPU, which then idles while the host launches the next step).
  torch::Tensor loss_sum;
  int64_t steps = 0;
  int64_t loss_steps = 0;  // steps whose loss is in loss_sum (a skipped step's is not)
  int64_t samples = 0;
  double data_wait_s = 0;
  double allreduce_ms = 0;
  double exposed_allreduce_ms = 0;
  double compute_s = 0;
  double optimizer_s = 0;
  double checkpoint_s = 0;
  Clock::time_point start = Clock::now();
};

// The L2 norm of all gradients together.
double gradient_norm(const std::vector<torch::Tensor>& parameters) {
  double sum = 0;
  for (const auto& parameter : parameters) {
    if (parameter.grad().defined()) sum += parameter.grad().pow(2).sum().item<double>();
  }
  return std::sqrt(sum);
}

// Sums `values` over all ranks (in place); a no-op for a single process.
void sum_over_ranks(dist::Communicator* communicator, std::vector<double>& values) {
  if (!communicator) return;
  auto tensor = torch::tensor(values, torch::kFloat64).to(communicator->device());
  communicator->all_reduce(tensor, dist::ReduceOp::kSum)->wait();
  tensor = tensor.cpu();
  for (size_t i = 0; i < values.size(); ++i) values[i] = tensor[static_cast<int64_t>(i)].item<double>();
}

// What a rank contributes to the stop agreement (a MAX over ranks): 0 to go on, kStopRequested when
// the application asked to stop, kStopRequested + N for signal N, so that a signal on any rank
// wins (the program then exits 128 + N after the checkpoint on_signal asks for).
constexpr int kStopRequested = 1 << 10;

// The largest `value` over all ranks; the value itself for a single process.
int max_over_ranks(dist::Communicator* communicator, int value) {
  if (!communicator) return value;
  auto tensor = torch::tensor({value}, torch::kInt32).to(communicator->device());
  communicator->all_reduce(tensor, dist::ReduceOp::kMax)->wait();
  return tensor.item<int>();
}

}  // namespace

struct Trainer::State {
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::unique_ptr<dist::GradientReducer> reducer;  // data parallel only
  std::unique_ptr<data::Loader> train_loader;
  std::unique_ptr<data::Loader> eval_loader;
  std::unique_ptr<data::DeviceFeeder> train_feeder;  // the loaders' batches on the device
  std::unique_ptr<data::DeviceFeeder> eval_feeder;
  std::unique_ptr<obs::MetricsLog> metrics;
  std::unique_ptr<obs::Progress> progress;
  std::unique_ptr<Checkpointer> checkpointer;  // rank 0
  std::unique_ptr<obs::EventWriter> events;       // rank 0's TensorBoard scalars
  std::unique_ptr<obs::EventWriter> rank_events;  // this rank's own (observe.per_rank_scalars)
  data::LoaderPosition start;                  // where training starts (resumed: the checkpoint's)
  int64_t start_step = 0;
  int64_t resumed_step = -1;
  std::vector<std::string> notes;  // printed after the run's header (what resuming found)
};

Trainer::Trainer(config::TrainConfig config, std::shared_ptr<const Task> task,
                 TrainerOptions options)
    : config_(std::move(config)), task_(std::move(task)), options_(std::move(options)),
      state_(std::make_unique<State>()) {
  device_ = choose_device(config_.runtime(), options_.local_rank);
  bfloat16_ = uses_bfloat16(config_.runtime());
  if (config_.runtime().deterministic()) use_deterministic_kernels();
  // On a GPU the host threads only launch kernels; the cores go to the loader instead.
  compute_threads_ = config_.runtime().threads() > 0 ? config_.runtime().threads()
                     : device_.is_cuda() ? kHostThreadsWithGpu
                                         : default_compute_threads(options_.local_world_size);
  configure_process_runtime(compute_threads_);
  torch::manual_seed(config_.seed());  // seeds the CUDA generators too

  auto* communicator = options_.communicator.get();
  if (communicator && communicator->world_size() == 1) options_.communicator.reset();
  communicator = options_.communicator.get();
  // Only rank 0 prints and writes the run directory.
  const bool primary = rank() == 0;
  state_->progress = std::make_unique<obs::Progress>(primary ? options_.progress_out : nullptr,
                                                     options_.interactive);
  model_ = models::ModelRegistry::instance().create(config_.model(), task_->model_spec());
  if (!options_.initial_weights.empty()) {  // a resumed checkpoint replaces them (resume())
    const auto bytes = read_whole_file(options_.initial_weights);
    if (!bytes) throw IoError(fmt::format("initial weights {}: cannot read the file", options_.initial_weights));
    ckpt::load_model_state(*model_, *bytes, options_.initial_weights);
  }
  model_->to(device_);
  if (communicator) {
    dist::broadcast_module_state(*model_, *communicator);
    state_->reducer = std::make_unique<dist::GradientReducer>(
        model_->parameters(), options_.communicator, dist::reducer_options(config_.distributed()));
  }
  state_->optimizer = optim::make_optimizer(config_.optimizer(), model_->parameters());

  const auto& data = config_.data();
  data::LoaderOptions train_options;
  train_options.batch_size = data.batch_size();
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
  if (state_->train_loader->batches_per_epoch() == 0) {
    throw ConfigError(fmt::format("data.batch_size: {} is larger than the {} training samples",
                                  data.batch_size(), task_->train_set()->size()));
  }
  data::LoaderOptions eval_options = train_options;
  eval_options.batch_size = data.eval_batch_size();
  eval_options.shuffle = false;
  eval_options.remainder = data::Remainder::kPartial;
  state_->eval_loader = std::make_unique<data::Loader>(task_->eval_set(), task_->eval_collator(),
                                                       eval_options);
  state_->train_feeder = std::make_unique<data::DeviceFeeder>(*state_->train_loader, device_);
  state_->eval_feeder = std::make_unique<data::DeviceFeeder>(*state_->eval_loader, device_);

  // An optimizer step takes `accumulation_steps` batches; an epoch's leftover batches are unused.
  const int64_t accumulation = config_.distributed().accumulation_steps();
  const int64_t per_epoch = state_->train_loader->batches_per_epoch() / accumulation;
  if (per_epoch == 0) {
    throw ConfigError(fmt::format(
        "distributed.accumulation_steps: {} micro-batches per step, but an epoch has only {}",
        accumulation, state_->train_loader->batches_per_epoch()));
  }

  resume();
  // The steps left in the (possibly resumed, partly done) first epoch, then whole epochs.
  const auto& start = state_->start;
  const int64_t epochs = config_.train().epochs();
  const int64_t first_epoch_steps =
      start.epoch < epochs
          ? data::batches_per_epoch(task_->train_set()->size(), data.batch_size(), world_size(),
                                    data::Remainder::kDrop, start.sample) / accumulation
          : 0;
  total_steps_ = state_->start_step + first_epoch_steps +
                 per_epoch * std::max<int64_t>(0, epochs - start.epoch - 1);
  if (config_.train().max_steps() > 0) total_steps_ = std::min(total_steps_, config_.train().max_steps());
  total_steps_ = std::max(total_steps_, state_->start_step);

  if (primary) {
    make_directories(options_.run_dir);
    write_text_file(options_.run_dir + "/config.pbtxt", config::config_to_text(config_));
    state_->metrics = std::make_unique<obs::MetricsLog>(options_.run_dir + "/metrics.jsonl",
                                                        state_->resumed_step);
    if (config_.observe().tensorboard()) {
      if (TRAINRT_WITH_TENSORBOARD) {
        state_->events = std::make_unique<obs::EventWriter>(options_.run_dir);
      } else {
        state_->notes.push_back("TensorBoard event files are off: this trainrt was built without ISA-L");
      }
    }
    make_directories(checkpoint_root());  // a bad checkpoint.dir fails now, not after training
    state_->checkpointer = std::make_unique<Checkpointer>(config_.checkpoint(), checkpoint_root(),
                                                          state_->resumed_step);
  }
  if (config_.observe().per_rank_scalars() && TRAINRT_WITH_TENSORBOARD) {
    state_->rank_events =
        std::make_unique<obs::EventWriter>(fmt::format("{}/rank_{}", options_.run_dir, rank()));
  }
}

std::string Trainer::checkpoint_root() const {
  return config_.checkpoint().dir().empty()
             ? options_.run_dir + "/" + ckpt::kCheckpointsFolder
             : config_.checkpoint().dir();
}

void Trainer::resume() {
  const auto start = Clock::now();
  auto& notes = state_->notes;
  const auto files = share_resume_files(options_.resume, checkpoint_root(), options_.communicator.get());
  if (!files) return;
  for (const auto& skipped : files->skipped) {
    notes.push_back(fmt::format("checkpoint {} is broken, skipped", skipped));
  }
  if (files->path.empty()) {
    notes.push_back("no whole checkpoint to resume from: starting afresh");
    return;
  }
  const TrainState& saved = files->state;
  if (saved.optimizer() != config_.optimizer().name()) {
    throw ConfigError(fmt::format("optimizer.name: '{}', but checkpoint {} holds the state of '{}'",
                                  config_.optimizer().name(), files->path, saved.optimizer()));
  }
  ckpt::load_model_state(*model_, files->model, files->path + "/" + kModelFile);
  const std::string optimizer_source = files->path + "/" + kOptimizerFile;
  optim::load_optimizer_state(*state_->optimizer,
                              optim::optimizer_parameter_names(*state_->optimizer, *model_),
                              ckpt::read_tensor_dict(files->optimizer, optimizer_source),
                              optimizer_source);
  set_torch_rng_state(saved.torch_rng_state(), files->path + "/" + kTrainStateFile);
  // A CPU run resumed on a GPU starts the GPU's generator from the seed; a GPU run resumed on the
  // CPU has no use for it.
  if (device_.is_cuda() && saved.has_cuda_rng_state()) {
    set_torch_rng_state(saved.cuda_rng_state(), files->path + "/" + kTrainStateFile, device_);
  }
  state_->start = {saved.loader_epoch(), saved.loader_sample()};
  state_->start_step = saved.step();
  state_->resumed_step = saved.step();
  notes.push_back(fmt::format("resumed from {}: step {}, epoch {}, sample {} of the epoch (read and "
                              "loaded in {:.2f} s)", files->path, saved.step(), saved.loader_epoch() + 1,
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

TrainingSnapshot Trainer::capture(int64_t step) const {
  TrainingSnapshot snapshot;
  const data::LoaderPosition position = state_->train_feeder->position();
  snapshot.state.set_step(step);
  snapshot.state.set_loader_epoch(position.epoch);
  snapshot.state.set_loader_sample(position.sample);
  snapshot.state.set_world_size(world_size());
  snapshot.state.set_batch_size(config_.data().batch_size());
  snapshot.state.set_accumulation_steps(config_.distributed().accumulation_steps());
  snapshot.state.set_torch_rng_state(torch_rng_state());
  if (device_.is_cuda()) snapshot.state.set_cuda_rng_state(torch_rng_state(device_));
  snapshot.state.set_optimizer(config_.optimizer().name());
  const models::ModelSpec spec = task_->model_spec();
  for (const int64_t size : spec.input_shape) snapshot.state.add_model_input_shape(size);
  snapshot.state.set_model_outputs(spec.num_outputs);
  snapshot.state.set_model_input_dtype(spec.input_dtype == torch::kLong ? "long" : "float");
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
  if (state_->metrics) {
    state_->metrics->write("checkpoint", step, state_->train_feeder->position().epoch,
                           {{"stall_ms", 1000.0 * held}});
  }
  return held;
}

void Trainer::write_trace() {
  // A checkpoint write begun in the traced steps belongs in the trace: let it finish first.
  if (state_->checkpointer) state_->checkpointer->wait();
  auto& trace = obs::Trace::global();
  trace.set_on(false);
  const std::string mine = trace.take_events_json(rank(), fmt::format("rank {}", rank()));
  const auto all = options_.communicator ? dist::all_gather_bytes(mine, *options_.communicator)
                                         : std::vector<std::string>{mine};
  if (rank() != 0) return;
  std::string json = "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n";
  for (size_t r = 0; r < all.size(); ++r) json += (r > 0 ? ",\n" : "") + all[r];
  json += "\n]}\n";
  const std::string& path = config_.observe().trace_file();
  ckpt::replace_file_durably(path, json);
  state_->progress->message(fmt::format("trace of {} rank{} written to {} (open it in "
                                        "chrome://tracing or ui.perfetto.dev)",
                                        all.size(), all.size() == 1 ? "" : "s", path));
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
  state_->progress->message(fmt::format(
      "warning: {}; the previous checkpoint is kept, the next one will retry", error));
}

int Trainer::rank() const { return options_.communicator ? options_.communicator->rank() : 0; }

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
  torch::NoGradGuard no_grad;
  model_->eval();
  EvalResult result;
  double loss_sum = 0;
  int64_t correct = 0;
  int64_t predictions = 0;
  auto& feeder = *state_->eval_feeder;
  feeder.start_epoch(0);
  int64_t samples = 0;
  while (auto batch = feeder.next()) {
    if (batch->rows == 0) continue;
    AutocastScope autocast(device_.type(), bfloat16_);
    const TaskOutput out = task_->compute(*model_, *batch, /*count_correct=*/true);
    loss_sum += out.loss.item<double>() * static_cast<double>(batch->rows);
    correct += out.correct;
    predictions += out.predictions > 0 ? out.predictions : batch->rows;
    samples += batch->rows;
  }
  model_->train();
  // Each rank evaluated its slice of the set; the totals are the whole set's.
  std::vector<double> totals{loss_sum, static_cast<double>(correct), static_cast<double>(samples),
                             static_cast<double>(predictions)};
  sum_over_ranks(options_.communicator.get(), totals);
  result.samples = static_cast<int64_t>(totals[2]);
  if (result.samples > 0) {
    result.loss = totals[0] / totals[2];
    result.accuracy = totals[1] / totals[3];
    if (task_->tokens_per_sample() > 0) result.perplexity = std::exp(result.loss);
  }
  return result;
}

TrainResult Trainer::run() {
  auto& optimizer = *state_->optimizer;
  auto& loader = *state_->train_loader;
  auto& feeder = *state_->train_feeder;
  auto& progress = *state_->progress;
  auto* communicator = options_.communicator.get();
  auto* reducer = state_->reducer.get();
  const auto& train = config_.train();
  const int64_t batch_size = config_.data().batch_size();
  const int accumulation = config_.distributed().accumulation_steps();
  const Callbacks& callbacks = options_.callbacks;
  auto write_metrics = [&](const std::string& split, int64_t step, int64_t epoch,
                           const obs::MetricsLog::Values& values) {
    if (state_->metrics) state_->metrics->write(split, step, epoch, values);
  };

  progress.message(fmt::format(
      "trainrt: {} | model {} ({} parameters) on {}{} | {} train / {} eval samples | batch {} x {} "
      "process{}{} | {} steps | {} compute + {} loader threads | run dir {}",
      config_.name(), config_.model().name(), parameter_count(*model_), device_.str(),
      bfloat16_ ? " in bfloat16" : "",
      task_->train_set()->size(), task_->eval_set()->size(), batch_size, world_size(),
      world_size() == 1 ? "" : "es",
      accumulation > 1 ? fmt::format(" x {} micro-batches", accumulation) : std::string(),
      total_steps_, compute_threads_, loader_threads(), options_.run_dir));
  if (reducer) {
    progress.message(fmt::format("data parallel: {} ranks over {}, {} gradient buckets",
                                 world_size(), communicator->backend(), reducer->buckets().size()));
  }
  for (const auto& note : state_->notes) progress.message(note);

  TrainResult result;
  obs::ProgressState shown;
  shown.total_steps = total_steps_;
  shown.start_step = state_->start_step;
  shown.epochs = train.epochs();
  int64_t step = state_->start_step;
  result.resumed_step = state_->resumed_step;
  bool evaluated_last_step = false;
  model_->train();
  // The steps to trace, [first, end): the trace is written once the last of them is done.
  const auto& observe = config_.observe();
  const bool tracing = !observe.trace_file().empty();
  const int64_t trace_first = observe.trace_first_step();
  const int64_t trace_end = trace_first + observe.trace_steps();
  bool trace_written = false;
  obs::Trace::name_thread("main");
  auto add_scalars = [&](obs::EventWriter* writer, const obs::EventWriter::Scalars& scalars) {
    if (writer) writer->add_scalars(step, scalars);
  };

  auto run_eval = [&](int64_t epoch, double epoch_seconds) {
    const auto start = Clock::now();
    obs::TraceSpan span("evaluate");
    result.eval = evaluate();
    obs::MetricsLog::Values values{{"loss", result.eval.loss},
                                   {"accuracy", result.eval.accuracy},
                                   {"samples", static_cast<double>(result.eval.samples)},
                                   {"eval_seconds", seconds_since(start)}};
    if (epoch_seconds > 0) values.push_back({"epoch_seconds", epoch_seconds});
    const bool language = task_->tokens_per_sample() > 0;
    if (language) values.push_back({"perplexity", result.eval.perplexity});
    write_metrics("eval", step, epoch, values);
    obs::EventWriter::Scalars scalars{{"eval/loss", result.eval.loss}, {"eval/accuracy", result.eval.accuracy}};
    if (language) scalars.push_back({"eval/perplexity", result.eval.perplexity});
    add_scalars(state_->events.get(), scalars);
    progress.message(fmt::format("eval  epoch {} step {}: loss {:.4f} {}accuracy {:.4f}", epoch + 1,
                                 step, result.eval.loss,
                                 language ? fmt::format("perplexity {:.2f} token ", result.eval.perplexity) : "",
                                 result.eval.accuracy));
    evaluated_last_step = true;
    if (callbacks.after_evaluation && callbacks.after_evaluation(step, result.eval) == Action::kStop) {
      stop_requested_.store(true);
    }
  };

  // A committed checkpoint not yet reported to the application (rank 0).
  std::string reported_checkpoint;
  auto report_checkpoint = [&] {
    if (!callbacks.on_checkpoint || !state_->checkpointer) return;
    const std::string committed = state_->checkpointer->last_committed();
    if (committed.empty() || committed == reported_checkpoint) return;
    reported_checkpoint = committed;
    callbacks.on_checkpoint(CommittedCheckpoint{ckpt::checkpoint_step(committed), committed});
  };
  // Whether every rank stops now: a stop signal (when the program caught them) or a request (a
  // callback's kStop, request_stop()) on any rank stops them all at this step boundary.
  auto agree_to_stop = [&] {
    const int signal = options_.stop_on_signal ? stop_signal() : 0;
    const int mine = signal != 0 ? kStopRequested + signal : stop_requested_.load() ? kStopRequested : 0;
    const int agreed = max_over_ranks(communicator, mine);
    if (agreed > kStopRequested) result.stop_signal = agreed - kStopRequested;  // a signal wins
    else if (agreed == kStopRequested) result.stop_requested = true;
    return agreed != 0;
  };

  const bool skip_nonfinite = train.on_nonfinite() == "skip";
  int64_t skips_in_a_row = 0;
  const auto& start = state_->start;
  for (int64_t epoch = start.epoch; epoch < train.epochs() && step < total_steps_; ++epoch) {
    const auto epoch_start = Clock::now();
    double epoch_eval_seconds = 0;
    Interval interval;
    feeder.start_epoch(epoch, epoch == start.epoch ? start.sample : 0);
    // A resumed epoch continues from its saved position (and may have nothing left).
    const int64_t steps_this_epoch = loader.batches_this_epoch() / accumulation;
    if (steps_this_epoch == 0) continue;
    for (int64_t epoch_step = 0; epoch_step < steps_this_epoch && step < total_steps_; ++epoch_step) {
      if (tracing) obs::Trace::global().set_on(step + 1 >= trace_first && step + 1 < trace_end);
      const bool log_step = (step + 1) % train.log_every_steps() == 0 || step + 1 == total_steps_;
      const double lr =
          optim::learning_rate_at(config_.schedule(), config_.optimizer().lr(), step, total_steps_);
      torch::Tensor step_loss;  // on the device, float64
      double grad_norm = 0;
      bool skipped = false;
      {
        obs::TraceSpan step_span("step");
        optim::set_learning_rate(optimizer, lr);
        optimizer.zero_grad();
        fault_injection::set_step(step + 1);
        fault_injection::point("forward");
        for (int micro = 0; micro < accumulation; ++micro) {
          std::optional<data::Batch> batch = feeder.next();
          interval.data_wait_s += feeder.last_wait_seconds();
          if (!batch) {
            throw Error(Error::Kind::kInternal,
                        fmt::format("epoch {}: the loader ended after {} of {} steps", epoch + 1,
                                    epoch_step, steps_this_epoch));
          }
          const auto compute_start = Clock::now();
          const bool last_micro = micro == accumulation - 1;
          if (reducer) reducer->prepare_for_backward(/*communicate=*/last_micro);
          torch::Tensor micro_loss;
          {
            obs::TraceSpan span("forward");
            AutocastScope autocast(device_.type(), bfloat16_);
            micro_loss = task_->compute(*model_, *batch, /*count_correct=*/false).loss;
          }
          {
            obs::TraceSpan span("backward");
            // Each micro-batch's loss is a mean over its rows: scaled by 1/k, the accumulated
            // gradient is the mean over the k x batch samples, as one batch that large would give.
            (accumulation > 1 ? micro_loss / accumulation : micro_loss).backward();
          }
          torch::Tensor part = micro_loss.detach().to(torch::kFloat64);
          if (accumulation > 1) part = part / accumulation;
          step_loss = step_loss.defined() ? step_loss + part : part;
          interval.samples += batch->rows;
          interval.compute_s += seconds_since(compute_start);
        }
        if (reducer) {
          obs::TraceSpan span("gradient sync wait");
          const dist::ReduceStats stats = reducer->finish();
          interval.allreduce_ms += stats.communication_ms;
          interval.exposed_allreduce_ms += stats.exposed_ms;
        }
        // The last checkpoint's copy of the parameters must be done before they change.
        if (state_->checkpointer) interval.checkpoint_s += state_->checkpointer->wait_for_snapshot();
        const auto optimizer_start = Clock::now();
        obs::TraceSpan span("optimizer");
        if (config_.optimizer().grad_clip_norm() > 0) {
          grad_norm = torch::nn::utils::clip_grad_norm_(model_->parameters(),
                                                        config_.optimizer().grad_clip_norm());
        } else if (log_step || skip_nonfinite) {
          grad_norm = gradient_norm(model_->parameters());
        }
        // The gradients are all-reduced by now, so every rank sees the same norm and skips alike.
        skipped = skip_nonfinite && !std::isfinite(grad_norm);
        if (!skipped) optimizer.step();
        interval.optimizer_s += seconds_since(optimizer_start);
      }
      ++step;
      evaluated_last_step = false;

      interval.steps += 1;
      if (skipped) {
        ++result.skipped_steps;
        ++skips_in_a_row;
        progress.message(fmt::format("step {}: the gradient norm is {}; the step is skipped "
                                     "(train.on_nonfinite: skip; {} in a row)",
                                     step, grad_norm, skips_in_a_row));
        if (skips_in_a_row >= train.max_consecutive_skips()) {
          throw Error(Error::Kind::kInternal,
                      fmt::format("rank {} step {}: {} steps in a row had non-finite gradients "
                                  "(train.max_consecutive_skips); lower optimizer.lr or set "
                                  "optimizer.grad_clip_norm", rank(), step, skips_in_a_row));
        }
      } else {
        skips_in_a_row = 0;
        interval.loss_sum = interval.loss_sum.defined() ? interval.loss_sum + step_loss : step_loss;
        interval.loss_steps += 1;
      }
      // On the CPU reading the loss costs nothing; a GPU run reads it at log steps (and for the
      // interactive bar), and a NaN in between shows in the interval's sum.
      if (!skipped && (!device_.is_cuda() || options_.interactive || log_step)) {
        const double loss = step_loss.item<double>();
        if (!std::isfinite(loss)) {
          throw Error(Error::Kind::kInternal,
                      fmt::format("rank {} step {}: the loss is {}; lower optimizer.lr, set "
                                  "optimizer.grad_clip_norm or train.on_nonfinite: skip", rank(), step, loss));
        }
        shown.loss = loss;
      }
      shown.step = step;
      shown.epoch = epoch;
      shown.lr = lr;
      progress.step(shown);

      if (log_step) {
        const double seconds = seconds_since(interval.start);
        const double loss_sum = interval.loss_steps > 0 ? interval.loss_sum.item<double>() : 0.0;
        if (!std::isfinite(loss_sum)) {
          throw Error(Error::Kind::kInternal,
                      fmt::format("rank {} steps {}-{}: the loss is {}; lower optimizer.lr, set "
                                  "optimizer.grad_clip_norm or train.on_nonfinite: skip", rank(), step - interval.steps + 1,
                                  step, loss_sum));
        }
        // Loss is the mean over ranks, throughput the sum; times are rank 0's.
        std::vector<double> sums{loss_sum, static_cast<double>(interval.samples)};
        sum_over_ranks(communicator, sums);
        const double steps = static_cast<double>(interval.steps);
        // Every rank skipped the same steps; an interval of only skipped steps keeps the last loss.
        if (interval.loss_steps > 0) shown.loss = sums[0] / static_cast<double>(interval.loss_steps) / world_size();
        shown.samples_per_sec = sums[1] / seconds;
        // The step before this interval's first may have written a checkpoint; its stall is in
        // `seconds`, so it is counted here.
        const StepTimes times{1000.0 * interval.data_wait_s / steps, 1000.0 * seconds / steps,
                              interval.allreduce_ms / steps,          interval.exposed_allreduce_ms / steps,
                              1000.0 * interval.compute_s / steps,    1000.0 * interval.optimizer_s / steps,
                              1000.0 * interval.checkpoint_s / steps};
        result.last_interval = times;
        shown.breakdown = fmt::format(
            "step {:.1f} ms: data {:.1f}, compute {:.1f}, comm {:.1f}, optimizer {:.1f}, checkpoint {:.1f}",
            times.step_ms, times.data_wait_ms, times.compute_ms, times.exposed_allreduce_ms,
            times.optimizer_ms, times.checkpoint_ms);
        obs::MetricsLog::Values values{{"loss", shown.loss},
                                       {"lr", lr},
                                       {"samples_per_sec", shown.samples_per_sec},
                                       {"grad_norm", grad_norm},
                                       {"data_wait_ms", times.data_wait_ms},
                                       {"step_ms", times.step_ms},
                                       {"compute_ms", times.compute_ms},
                                       {"optimizer_ms", times.optimizer_ms},
                                       {"checkpoint_ms", times.checkpoint_ms}};
        if (task_->tokens_per_sample() > 0) {
          values.push_back({"tokens_per_sec", shown.samples_per_sec * static_cast<double>(task_->tokens_per_sample())});
        }
        if (skip_nonfinite) values.push_back({"skipped_steps", static_cast<double>(result.skipped_steps)});
        if (reducer) {
          values.push_back({"allreduce_ms", times.allreduce_ms});
          values.push_back({"exposed_allreduce_ms", times.exposed_allreduce_ms});
        }
        write_metrics("train", step, epoch, values);
        add_scalars(state_->events.get(),
                    {{"train/loss", shown.loss}, {"train/lr", lr},
                     {"train/samples_per_sec", shown.samples_per_sec}, {"train/grad_norm", grad_norm},
                     {"time/step_ms", times.step_ms}, {"time/data_wait_ms", times.data_wait_ms},
                     {"time/compute_ms", times.compute_ms},
                     {"time/exposed_comm_ms", times.exposed_allreduce_ms},
                     {"time/optimizer_ms", times.optimizer_ms}, {"time/checkpoint_ms", times.checkpoint_ms}});
        // This rank's own view: its loss (before averaging) and its times.
        add_scalars(state_->rank_events.get(),
                    {{"rank/loss", loss_sum / steps}, {"rank/step_ms", times.step_ms},
                     {"rank/data_wait_ms", times.data_wait_ms}, {"rank/compute_ms", times.compute_ms},
                     {"rank/exposed_comm_ms", times.exposed_allreduce_ms}});
        progress.log(shown);
        interval = Interval{};
      }
      if (train.eval_every_steps() > 0 && step % train.eval_every_steps() == 0) {
        const auto eval_start = Clock::now();
        run_eval(epoch, 0);
        epoch_eval_seconds += seconds_since(eval_start);
      }
      check_checkpoint_errors();
      if (state_->checkpointer && state_->checkpointer->due(step)) {
        interval.checkpoint_s += save_checkpoint(step, /*wait=*/false);
      }
      if (tracing && step + 1 == trace_end) {
        write_trace();
        trace_written = true;
      }
      if (callbacks.after_step) {
        const StepInfo info{step, epoch, total_steps_, lr, step_loss};
        if (callbacks.after_step(info) == Action::kStop) stop_requested_.store(true);
      }
      report_checkpoint();
      if (agree_to_stop()) break;
    }
    if (result.stop_signal != 0 || result.stop_requested) break;
    const double epoch_seconds = seconds_since(epoch_start) - epoch_eval_seconds;
    result.train_seconds += epoch_seconds;
    if (const int64_t skipped = loader.skipped_samples(); skipped > 0) {
      write_metrics("train", step, epoch, {{"skipped_samples", static_cast<double>(skipped)}});
      progress.message(fmt::format("epoch {}: skipped {} samples that failed to load (first: {})",
                                   epoch + 1, skipped, loader.first_skip_reason()));
    }
    if (!evaluated_last_step) run_eval(epoch, epoch_seconds);
    if (config_.checkpoint().every_epoch()) save_checkpoint(step, /*wait=*/false);
    if (step < total_steps_ && agree_to_stop()) break;  // an evaluation callback may have asked
  }
  progress.finish();
  if (tracing && !trace_written && step >= trace_first) write_trace();  // ended inside the traced steps
  if (state_->events) state_->events->flush();
  // A resumed run that had nothing left to train still reports where it stands.
  if (step == state_->start_step && state_->resumed_step >= 0 && result.stop_signal == 0) {
    run_eval(std::max<int64_t>(0, train.epochs() - 1), 0);
  }
  finish_checkpoints(step, result);
  report_checkpoint();
  result.steps = step;
  if (result.stop_requested) {
    progress.message(fmt::format("stopped at step {} as the application asked{}", step,
                                 result.last_checkpoint.empty() ? std::string()
                                                                : "; checkpoint " + result.last_checkpoint));
    return result;
  }
  if (result.stop_signal != 0) {
    progress.message(fmt::format("stopped by {} at step {}{}", strsignal(result.stop_signal), step,
                                 result.last_checkpoint.empty()
                                     ? std::string()
                                     : "; checkpoint " + result.last_checkpoint +
                                           " written, the same command resumes from it"));
    return result;
  }
  progress.message(fmt::format("done: {} steps in {}, test accuracy {:.4f}, test loss {:.4f}", step,
                               obs::format_duration(result.train_seconds), result.eval.accuracy,
                               result.eval.loss));
  return result;
}

}  // namespace trainrt::train
