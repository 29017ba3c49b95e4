#include "trainrt/dist/flight_recorder.h"
#include "trainrt/dist/reducer.h"

#include <fmt/format.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include "trainrt/core/error.h"
#include "trainrt/core/fault_injection.h"
#include "trainrt/obs/trace.h"

namespace trainrt::dist {
namespace {

using Clock = std::chrono::steady_clock;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

double ms_between(int64_t from_ns, int64_t to_ns) { return static_cast<double>(to_ns - from_ns) / 1e6; }

}  // namespace

struct GradientReducer::Bucket {
  std::vector<size_t> parameters;
  torch::Tensor buffer;  // flat, in the wire type, on the parameters' device
  size_t pending = 0;    // gradients not yet final in this backward pass
  std::unique_ptr<Work> work;
  int64_t launched_ns = 0;
  bool launched_during_backward = false;
  // Written by the backend's thread when the all-reduce completes; shared so that a late callback
  // never writes into a destroyed reducer.
  std::shared_ptr<std::atomic<int64_t>> completed_ns = std::make_shared<std::atomic<int64_t>>(0);
};

// Runs after a parameter's AccumulateGrad node, i.e. once param.grad holds this backward pass's
// final gradient (accumulated micro-batches included). PyTorch's DDP hooks the same node.
class GradientReducer::ReadyHook : public torch::autograd::FunctionPostHook {
 public:
  ReadyHook(GradientReducer* reducer, size_t parameter) : reducer_(reducer), parameter_(parameter) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& /*inputs*/) override {
    reducer_->mark_ready(parameter_);
    return outputs;
  }

 private:
  GradientReducer* reducer_;
  size_t parameter_;
};

GradientReducer::GradientReducer(const std::vector<torch::Tensor>& parameters,
                                 std::shared_ptr<Communicator> communicator, ReducerOptions options)
    : communicator_(std::move(communicator)), options_(options) {
  if (!communicator_->supports_dtype(options_.wire_dtype)) {
    throw ConfigError(fmt::format(
        "distributed.grad_dtype: the {} backend cannot sum {} gradients (use float32 or float16)",
        communicator_->backend(), c10::toString(options_.wire_dtype)));
  }
  std::vector<size_t> bytes;
  for (const auto& parameter : parameters) {
    if (!parameter.requires_grad()) continue;
    parameters_.push_back(parameter);
    bytes.push_back(static_cast<size_t>(parameter.numel()) * c10::elementSize(options_.wire_dtype));
  }
  assignment_ = assign_buckets(bytes, options_.limits);
  bucket_of_.resize(parameters_.size());
  offset_of_.resize(parameters_.size());
  for (size_t b = 0; b < assignment_.size(); ++b) {
    auto bucket = std::make_unique<Bucket>();
    bucket->parameters = assignment_[b];
    int64_t elements = 0;
    for (size_t p : bucket->parameters) {
      bucket_of_[p] = b;
      offset_of_[p] = static_cast<size_t>(elements);
      elements += parameters_[p].numel();
    }
    bucket->buffer = torch::empty({elements}, parameters_[bucket->parameters.front()]
                                                  .options()
                                                  .dtype(options_.wire_dtype)
                                                  .requires_grad(false));
    buckets_.push_back(std::move(bucket));
  }
  gradient_views_ = true;
  for (const auto& parameter : parameters_) {
    gradient_views_ &= parameter.scalar_type() == options_.wire_dtype && parameter.is_contiguous() &&
                       !parameter.is_sparse();
  }
  if (gradient_views_) {
    views_.resize(parameters_.size());
    for (size_t p = 0; p < parameters_.size(); ++p) {
      const auto& buffer = buckets_[bucket_of_[p]]->buffer;
      // set_ (not narrow/view): the alias must not be an autograd view, see the Note.
      views_[p] = torch::empty({0}, buffer.options())
                      .set_(buffer.storage(), static_cast<int64_t>(offset_of_[p]),
                            parameters_[p].sizes(), parameters_[p].strides());
    }
  }
  ready_.assign(parameters_.size(), 0);
  for (size_t p = 0; p < parameters_.size(); ++p) {
    // The accumulator is held by the variable only weakly: keep it alive with its hook.
    auto accumulator = torch::autograd::impl::grad_accumulator(parameters_[p]);
    hook_keys_.push_back(accumulator->add_post_hook(std::make_unique<ReadyHook>(this, p)));
    accumulators_.push_back(std::move(accumulator));
  }
}

GradientReducer::~GradientReducer() {
  for (auto& bucket : buckets_) {
    if (bucket->work) {
      try {
        bucket->work->wait();
      } catch (const std::exception&) {
        // Already failing; the error was (or will be) reported by finish().
      }
    }
  }
  for (size_t p = 0; p < accumulators_.size(); ++p) accumulators_[p]->del_post_hook(hook_keys_[p]);
}

bool GradientReducer::holds_view(size_t parameter) const {
  if (!gradient_views_) return false;
  const auto& grad = parameters_[parameter].grad();
  return grad.defined() && grad.data_ptr() == views_[parameter].data_ptr();
}

void GradientReducer::attach_gradient_views() {
  torch::NoGradGuard no_grad;
  for (size_t p = 0; p < parameters_.size(); ++p) {
    auto& parameter = parameters_[p];
    if (holds_view(p)) continue;
    const auto& grad = parameter.grad();
    if (grad.defined()) {
      views_[p].copy_(grad);
    } else {
      views_[p].zero_();
    }
    parameter.mutable_grad() = views_[p];
  }
}

void GradientReducer::prepare_for_backward(bool communicate) {
  MutexLock lock(mutex_);
  if (gradient_views_) attach_gradient_views();
  communicate_ = communicate;
  backward_ended_ = false;
  std::fill(ready_.begin(), ready_.end(), 0);
  next_bucket_ = 0;
  for (auto& bucket : buckets_) {
    bucket->pending = bucket->parameters.size();
    bucket->work.reset();
    bucket->completed_ns->store(0);
  }
}

void GradientReducer::mark_ready(size_t parameter) {
  MutexLock lock(mutex_);
  if (!communicate_) return;
  if (ready_[parameter]) {
    throw Error(Error::Kind::kInternal,
                fmt::format("gradient reducer: parameter {} (of shape {}) became ready twice in one "
                            "backward pass; call prepare_for_backward before each backward()",
                            parameter, c10::str(parameters_[parameter].sizes())));
  }
  ready_[parameter] = 1;
  Bucket& bucket = *buckets_[bucket_of_[parameter]];
  if (--bucket.pending == 0) launch_ready_buckets();
}

void GradientReducer::launch_ready_buckets() {
  // Note [bucket order] in reducer.h.
  while (next_bucket_ < buckets_.size() && buckets_[next_bucket_]->pending == 0) {
    raise_failed_buckets();
    launch(*buckets_[next_bucket_++]);
  }
}

void GradientReducer::raise_failed_buckets() {
  // An all-reduce that already failed (a peer is gone) ends the backward pass here, with its error
  // (the autograd engine passes it to backward()'s caller), rather than after the pass: the step is
  // lost anyway, and recovery (train/trainer_recovery.cpp) starts that much sooner.
  for (size_t b = 0; b < next_bucket_; ++b) {
    auto& work = buckets_[b]->work;
    if (work && work->completed()) work->wait();  // returns at once; throws if it failed
  }
}

void GradientReducer::launch(Bucket& bucket) {
  torch::NoGradGuard no_grad;
  for (size_t p : bucket.parameters) {
    if (holds_view(p)) continue;  // the gradient already lives in the buffer
    const auto& parameter = parameters_[p];
    auto slice = bucket.buffer.narrow(0, static_cast<int64_t>(offset_of_[p]), parameter.numel());
    const auto& grad = parameter.grad();
    if (grad.defined()) {
      slice.copy_(grad.reshape(-1));
    } else {
      slice.zero_();  // not reached by this rank's backward pass; another rank's may have been
    }
  }
  // Divide before summing (as DDP does): the sum of averages cannot overflow a narrow wire type.
  const int world = communicator_->world_size();
  if (options_.rows > 0 && options_.rows * world != options_.global_rows) {
    bucket.buffer.mul_(static_cast<double>(options_.rows) / static_cast<double>(options_.global_rows));
  } else {
    bucket.buffer.div_(world);
  }
  bucket.launched_ns = now_ns();
  bucket.launched_during_backward = !backward_ended_;
  if (&bucket == buckets_.front().get() && fault_injection::fires("extra")) {
    CollectivePurpose injected("fault injection: an extra collective");
    injected_extra_ = communicator_->all_reduce(torch::zeros({1}, bucket.buffer.options()), ReduceOp::kSum);
  }
  CollectivePurpose purpose(fmt::format("gradient bucket {}", next_bucket_ - 1));  // launched as next_bucket_++
  bucket.work = communicator_->all_reduce(bucket.buffer, ReduceOp::kSum);
  bucket.work->on_completion([completed = bucket.completed_ns] { completed->store(now_ns()); });
  if (&bucket == buckets_.front().get()) fault_injection::point("allreduce");
}

ReduceStats GradientReducer::finish() {
  ReduceStats stats;
  int64_t backward_end_ns = 0;
  {
    MutexLock lock(mutex_);
    if (!communicate_) {
      throw Error(Error::Kind::kInternal,
                  "gradient reducer: finish() after a backward pass that was not prepared with "
                  "communicate = true");
    }
    backward_end_ns = now_ns();
    backward_ended_ = true;
    // Whatever the backward pass did not reach is launched now, still in bucket order.
    for (auto& bucket : buckets_) bucket->pending = 0;
    launch_ready_buckets();
    communicate_ = false;
  }
  int64_t first_launch_ns = 0, last_completion_ns = 0;
  torch::NoGradGuard no_grad;
  auto& trace = obs::Trace::global();
  for (size_t b = 0; b < buckets_.size(); ++b) {
    auto& bucket = buckets_[b];
    bucket->work->wait();
    int64_t completed = bucket->completed_ns->load();
    if (completed == 0) completed = now_ns();  // the completion callback may run just after wait
    if (trace.on()) {
      // Each bucket on a lane of its own: its all-reduce overlaps the others and the backward pass.
      const std::string name = fmt::format("allreduce bucket {}", b);
      trace.span_on(name, name, bucket->launched_ns / 1000, completed / 1000);
    }
    if (first_launch_ns == 0 || bucket->launched_ns < first_launch_ns) first_launch_ns = bucket->launched_ns;
    last_completion_ns = std::max(last_completion_ns, completed);
    stats.launched_during_backward += bucket->launched_during_backward ? 1 : 0;
    stats.bytes += bucket->buffer.numel() * static_cast<int64_t>(bucket->buffer.element_size());
    for (size_t p : bucket->parameters) {
      auto& parameter = parameters_[p];
      if (holds_view(p)) continue;  // reduced in place
      auto slice = bucket->buffer.narrow(0, static_cast<int64_t>(offset_of_[p]), parameter.numel());
      if (!parameter.grad().defined()) parameter.mutable_grad() = torch::zeros_like(parameter);
      parameter.mutable_grad().copy_(slice.view_as(parameter));
    }
  }
  stats.buckets = static_cast<int>(buckets_.size());
  if (!buckets_.empty()) {
    stats.communication_ms = ms_between(first_launch_ns, last_completion_ns);
    stats.exposed_ms = std::max(0.0, ms_between(backward_end_ns, last_completion_ns));
  }
  return stats;
}

}  // namespace trainrt::dist
