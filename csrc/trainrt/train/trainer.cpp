#include "trainrt/train/trainer.h"

#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>

#include "trainrt/ckpt/commit.h"
#include "trainrt/core/clock.h"
#include "trainrt/core/error.h"
#include "trainrt/core/fault_injection.h"
#include "trainrt/dist/replica_group.h"
#include "trainrt/dist/replicas.h"
#include "trainrt/obs/trace.h"
#include "trainrt/optim/schedule.h"
#include "trainrt/train/evaluation.h"
#include "trainrt/train/interval_report.h"
#include "trainrt/train/nonfinite_policy.h"
#include "trainrt/train/step_plan.h"
#include "trainrt/train/stop_agreement.h"
#include "trainrt/train/stop_signals.h"
#include "trainrt/train/trace_window.h"
#include "trainrt/train/trainer_loop.h"
#include "trainrt/train/trainer_state.h"

// Running a Trainer: the loop over epochs and steps and what follows each step. Building it is in
// trainer_setup.cpp, its checkpoints in trainer_checkpoints.cpp.
namespace trainrt::train {
namespace {

// Recoveries that may fail in a row (each a lost rank during the last one's rendezvous or
// transfer) before the run gives up.
constexpr int kMaxFailedRecoveries = 8;

// Ends train_epochs() at a step boundary when a process waits to join the group.
class MembershipChange : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace


// The step list of docs/ARCHITECTURE.md: each epoch's steps, each step followed by its reports,
// an evaluation when due, a checkpoint when due, the callbacks and the ranks' stop agreement. A
// rank lost on the way (recovery from memory) moves the loop to the newest state any replica
// holds, and it goes on from there.
TrainResult Trainer::run() {
  print_header();
  Loop loop(config_, rank());
  loop.step = state_->start_step;
  loop.result.resumed_step = state_->resumed_step;
  loop.shown.total_steps = total_steps_;
  loop.shown.start_step = state_->start_step;
  loop.shown.epochs = config_.train().epochs();
  model_->train();
  obs::Trace::name_thread("main");
  loop.trace.skip_if_closed(state_->start_step);  // (a replacement's trace window may be past)
  loop.policy.restore(state_->skipped_steps, state_->consecutive_skips);
  write_membership_report();
  // Failed recoveries are counted per step: one that fails again and again at the same step ends
  // the run rather than loop.
  int failed_recoveries = 0;
  int64_t failing_step = -1;
  std::optional<std::string> cause;
  // Whether one more recovery may be tried after a failure at this step.
  auto may_retry = [&] {
    if (loop.step != failing_step) failed_recoveries = 0;
    failing_step = loop.step;
    return ++failed_recoveries <= kMaxFailedRecoveries;
  };
  while (true) {
    try {
      if (cause) {
        recover(loop, *cause);
        cause.reset();
      }
      train_epochs(loop);
      break;
    } catch (const Error& error) {
      if (!recovers_from(error) || !may_retry()) throw;
      cause = error.what();
    } catch (const std::system_error& error) {
      // LibTorch's TCPStore client lets a connection reset in the middle of a request escape as a
      // bare system error (seen while a peer was killed during a rendezvous).
      if (!recovers_from_network_error(error) || !may_retry()) throw;
      cause = fmt::format("a store request failed: {}", error.what());
    } catch (const MembershipChange& change) {
      cause = change.what();
    }
  }
  return finish(loop);
}

void Trainer::train_epochs(Loop& loop) {
  const auto& train = config_.train();
  const auto& start = state_->start;
  loop.boundary = Clock::now();
  for (loop.epoch = start.epoch; loop.epoch < train.epochs() && loop.step < total_steps_; ++loop.epoch) {
    const auto epoch_start = Clock::now();
    loop.epoch_eval_seconds = 0;
    loop.interval = IntervalReport();
    state_->train_feeder->start_epoch(loop.epoch, loop.epoch == start.epoch ? start.sample : 0);
    mark_step_boundary();
    // A resumed epoch continues from its saved position (and may have nothing left).
    const int64_t steps_this_epoch =
        state_->train_loader->batches_this_epoch() / config_.distributed().accumulation_steps();
    // Recovered from memory at an epoch's end: the epoch's end (its evaluation, its checkpoint)
    // may be what failed, so it runs (again) on every rank.
    const bool close_recovered_epoch = state_->adopted_from_memory && loop.epoch == start.epoch;
    state_->adopted_from_memory = false;
    if (steps_this_epoch == 0) {
      if (close_recovered_epoch) end_epoch(loop, 0);
      continue;
    }
    for (int64_t epoch_step = 0; epoch_step < steps_this_epoch && loop.step < total_steps_; ++epoch_step) {
      if (!train_step(loop)) {
        throw Error(Error::Kind::kInternal, fmt::format("epoch {}: the loader ended after {} of {} steps",
                                                        loop.epoch + 1, epoch_step, steps_this_epoch));
      }
      if (is_log_step(loop.step, train.log_every_steps(), total_steps_)) report_interval(loop);
      if (is_eval_step(loop.step, train.eval_every_steps())) {
        const auto eval_start = Clock::now();
        evaluate_and_report(loop, 0);
        loop.epoch_eval_seconds += seconds_since(eval_start);
      }
      after_step(loop);
      if (ranks_agree_to_stop(loop)) break;
      loop.boundary = Clock::now();
    }
    if (loop.result.stop_signal != 0 || loop.result.stop_requested) break;
    end_epoch(loop, seconds_since(epoch_start) - loop.epoch_eval_seconds);
    // An evaluation callback may have asked to stop.
    if (loop.step < total_steps_ && ranks_agree_to_stop(loop)) break;
  }
}

bool Trainer::train_step(Loop& loop) {
  loop.trace.before_step(loop.step);
  const bool log_step = is_log_step(loop.step + 1, config_.train().log_every_steps(), total_steps_);
  loop.lr = state_->schedule->at(loop.step, total_steps_);
  fault_injection::set_step(loop.step + 1);
  // The last checkpoint's copy of the parameters must be done before they change.
  auto* checkpointer = state_->checkpointer.get();
  std::optional<StepOutcome> outcome = state_->step->run(
      loop.lr, /*need_grad_norm=*/log_step,
      [checkpointer] { return checkpointer ? checkpointer->wait_for_snapshot() : 0.0; });
  if (!outcome) return false;
  ++loop.step;
  mark_step_boundary();
  loop.evaluated_last_step = false;
  loop.interval.add(*outcome);
  auto& progress = state_->outputs->progress();
  if (auto line = loop.policy.after_step(loop.step, outcome->skipped, outcome->grad_norm)) {
    progress.message(*line);
  }
  loop.policy.check_consecutive_skips(loop.step);
  state_->skipped_steps = loop.policy.skipped_steps();
  state_->consecutive_skips = loop.policy.consecutive_skips();
  // On the CPU reading the loss costs nothing; a GPU run reads it at log steps (and for the
  // interactive bar), and a NaN in between shows in the interval's sum.
  if (!outcome->skipped && (!device_.is_cuda() || options_.interactive || log_step)) {
    const double loss = outcome->loss.item<double>();
    loop.policy.check_loss(loss, loop.step, loop.step);
    loop.shown.loss = loss;
  }
  loop.shown.step = loop.step;
  loop.shown.epoch = loop.epoch;
  loop.shown.lr = loop.lr;
  progress.step(loop.shown);
  loop.last = std::move(*outcome);
  return true;
}

void Trainer::report_interval(Loop& loop) {
  IntervalContext context;
  context.step = loop.step;
  context.lr = loop.lr;
  context.grad_norm = loop.last.grad_norm;
  context.last_loss = loop.shown.loss;
  context.tokens_per_sample = task_->tokens_per_sample();
  context.report_skips = loop.policy.skips();
  context.skipped_steps = loop.policy.skipped_steps();
  const IntervalMetrics metrics = loop.interval.close(context, loop.policy, options_.communicator.get());
  loop.shown.loss = metrics.loss;
  loop.shown.samples_per_sec = metrics.samples_per_sec;
  loop.result.last_interval = metrics.times;
  state_->outputs->write("train", loop.step, loop.epoch, metrics.metrics);
  state_->outputs->write_rank(loop.step, metrics.rank_metrics);
  state_->outputs->progress().log(loop.shown, metrics.metrics);
}

void Trainer::evaluate_and_report(Loop& loop, double epoch_seconds) {
  const auto start = Clock::now();
  obs::TraceSpan span("evaluate");
  loop.result.eval = evaluate();
  const bool language = task_->tokens_per_sample() > 0;
  state_->outputs->write("eval", loop.step, loop.epoch,
                         eval_metrics(loop.result.eval, seconds_since(start), epoch_seconds, language));
  state_->outputs->progress().message(eval_line(loop.epoch, loop.step, loop.result.eval, language));
  loop.evaluated_last_step = true;
  const auto& after_evaluation = options_.callbacks.after_evaluation;
  if (after_evaluation && after_evaluation(loop.step, loop.result.eval) == Action::kStop) {
    stop_requested_.store(true);
  }
}

void Trainer::after_step(Loop& loop) {
  check_checkpoint_errors();
  if (state_->checkpointer && state_->checkpointer->due(loop.step)) {
    loop.interval.add_checkpoint_stall(save_checkpoint(loop.step, /*wait=*/false));
  }
  if (loop.trace.closes_after(loop.step)) write_trace();
  if (const auto& after_step = options_.callbacks.after_step) {
    const StepInfo info{loop.step, loop.epoch, total_steps_, loop.lr, loop.last.loss};
    if (after_step(info) == Action::kStop) stop_requested_.store(true);
  }
  report_checkpoint(loop);
}

void Trainer::end_epoch(Loop& loop, double epoch_seconds) {
  loop.result.train_seconds += epoch_seconds;
  const auto& loader = *state_->train_loader;
  if (const int64_t skipped = loader.skipped_samples(); skipped > 0) {
    state_->outputs->write("train", loop.step, loop.epoch, {{"skipped_samples", static_cast<double>(skipped)}});
    state_->outputs->progress().message(fmt::format("epoch {}: skipped {} samples that failed to load (first: {})",
                                                    loop.epoch + 1, skipped, loader.first_skip_reason()));
  }
  if (!loop.evaluated_last_step) evaluate_and_report(loop, epoch_seconds);
  if (config_.checkpoint().every_epoch()) save_checkpoint(loop.step, /*wait=*/false);
}

void Trainer::report_checkpoint(Loop& loop) {
  if (!options_.callbacks.on_checkpoint || !state_->checkpointer) return;
  const std::string committed = state_->checkpointer->last_committed();
  if (committed.empty() || committed == loop.reported_checkpoint) return;
  loop.reported_checkpoint = committed;
  options_.callbacks.on_checkpoint(CommittedCheckpoint{ckpt::checkpoint_step(committed), committed});
}

bool Trainer::ranks_agree_to_stop(Loop& loop) {
  const int signal = options_.stop_on_signal ? stop_signal() : 0;
  const bool regroup = options_.group && options_.group->newer_generation_opened();
  const StopDecision decision =
      agree_to_stop(options_.communicator.get(), signal, stop_requested_.load(), regroup);
  if (decision.signal != 0) loop.result.stop_signal = decision.signal;
  else if (decision.requested) loop.result.stop_requested = true;
  // A process waits to join: every rank moves to the new generation at this step boundary.
  if (!decision.stop() && decision.regroup) throw MembershipChange("a process is waiting to join");
  return decision.stop();
}

TrainResult Trainer::finish(Loop& loop) {
  auto& progress = state_->outputs->progress();
  auto& result = loop.result;
  progress.finish();
  if (loop.trace.unwritten_at_end(loop.step)) write_trace();  // ended inside the traced steps
  state_->outputs->flush();
  // A resumed run that had nothing left to train still reports where it stands (a replacement
  // joining at the very end does not: its group evaluated).
  if (loop.step == state_->start_step && state_->resumed_step >= 0 && result.stop_signal == 0 &&
      !state_->joined_from_memory) {
    loop.epoch = std::max<int64_t>(0, config_.train().epochs() - 1);
    evaluate_and_report(loop, 0);
  }
  finish_checkpoints(loop.step, result);
  report_checkpoint(loop);
  result.steps = loop.step;
  result.skipped_steps = loop.policy.skipped_steps();
  const std::string checkpoint = result.last_checkpoint.empty() ? "" : "; checkpoint " + result.last_checkpoint;
  if (result.stop_requested) {
    progress.message(fmt::format("stopped at step {} as the application asked{}", loop.step, checkpoint));
  } else if (result.stop_signal != 0) {
    progress.message(fmt::format("stopped by {} at step {}{}", strsignal(result.stop_signal), loop.step,
                                 checkpoint.empty() ? "" : checkpoint + " written, the same command resumes from it"));
  } else {
    progress.message(fmt::format("done: {} steps in {}, test accuracy {:.4f}, test loss {:.4f}", loop.step,
                                 obs::format_duration(result.train_seconds), result.eval.accuracy,
                                 result.eval.loss));
  }
  return result;
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
  state_->outputs->progress().message(fmt::format("trace of {} rank{} written to {} (open it in "
                                        "chrome://tracing or ui.perfetto.dev)",
                                        all.size(), all.size() == 1 ? "" : "s", path));
}

}  // namespace trainrt::train
