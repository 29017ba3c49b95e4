// defines: C10dCommunicator, C10dWork (internal to the backend files)
//
// The Communicator over one of LibTorch's c10d process groups. Everything above the collective
// call lives here once: error translation, completion callbacks, and the collectives a backend
// lacks composed from those it has. gloo_communicator.cpp and nccl_communicator.cpp each
// instantiate it with their process group and say which native collectives it has.
//
// Templated on the group type (not on c10d::ProcessGroup) because LibTorch 1.13 derives the
// groups from ProcessGroup while LibTorch 2.x derives them from c10d::Backend; both have the same
// collective methods.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>

#include "trainrt/core/error.h"
#include "trainrt/dist/communicator.h"
#include "trainrt/dist/completion_poller.h"
#include "trainrt/dist/flight_recorder.h"
#include "trainrt/dist/supervision.h"

namespace trainrt::dist {

class C10dWork : public Work {
 public:
  // `seq`: its number in the flight recorder (supervision.flight), if there is one. `poller`:
  // where completion is seen when the backend's future completes too early (NCCL); null: the
  // future says it. `then` runs once, after a successful wait (e.g. to copy a result into place).
  C10dWork(c10::intrusive_ptr<c10d::Work> work, std::string what, int rank,
           const Supervision& supervision, std::shared_ptr<CompletionPoller> poller, uint64_t seq,
           std::function<void()> then = {})
      : work_(std::move(work)), what_(std::move(what)), rank_(rank), seq_(seq),
        diagnose_(supervision.diagnose), flight_(supervision.flight), poller_(std::move(poller)),
        then_(std::move(then)) {
    auto watchdog = supervision.watchdog;
    const uint64_t id = watchdog ? watchdog->track(fmt::format("rank {}: {}", rank_, what_)) : 0;
    if (watchdog || flight_) {
      when_done([watchdog, id, flight = flight_, seq](bool ok) {
        if (watchdog) watchdog->done(id);
        if (flight) flight->completed(seq, ok);
      });
    }
  }

  void wait() override {
    try {
      work_->wait();
    } catch (const c10::Error& e) {
      throw failure(e.what_without_backtrace());
    } catch (const std::exception& e) {
      throw failure(e.what());
    }
    if (then_) std::exchange(then_, {})();
  }

  bool completed() override { return work_->isCompleted(); }

  void on_completion(std::function<void()> callback) override {
    when_done([callback = std::move(callback)](bool) { callback(); });
  }

 private:
  // Runs `callback(ok)` once the collective has truly completed (see dist/completion_poller.h).
  void when_done(std::function<void(bool ok)> callback) {
    if (poller_) {
      poller_->watch([work = work_] { return work->isCompleted(); },
                     [work = work_, callback = std::move(callback)] { callback(work->exception() == nullptr); });
    } else {
      work_->getFuture()->addCallback(
          [callback = std::move(callback)](c10::ivalue::Future& future) { callback(!future.hasError()); });
    }
  }

  Error failure(const std::string& cause) const {
    // The backends' messages name a socket or a timeout, not a rank: say what was running.
    std::string first_line = cause.substr(0, cause.find('\n'));
    const std::string lost = diagnose_ ? diagnose_() : std::string();
    const std::string message =
        fmt::format("rank {}: {} failed: {}; {}", rank_, what_, first_line,
                    lost.empty() ? "a peer process exited, was killed or stopped answering "
                                   "within distributed.timeout_seconds"
                                 : lost);
    if (flight_) {
      flight_->completed(seq_, /*ok=*/false);
      flight_->dump(message);
    }
    return Error(Error::Kind::kDistributed, message);
  }

  c10::intrusive_ptr<c10d::Work> work_;
  std::string what_;
  int rank_;
  uint64_t seq_;
  std::function<std::string()> diagnose_;
  std::shared_ptr<FlightRecorder> flight_;
  std::shared_ptr<CompletionPoller> poller_;
  std::function<void()> then_;
};

// `kNativeReduceScatter`: whether Group implements reduce_scatter (NCCL does, Gloo does not).
template <class Group, bool kNativeReduceScatter>
class C10dCommunicator : public Communicator {
 public:
  C10dCommunicator(c10::intrusive_ptr<Group> group, std::string backend, torch::Device device,
                   Supervision supervision, std::vector<torch::Dtype> unsupported_dtypes = {})
      : group_(std::move(group)), backend_(std::move(backend)), device_(device),
        supervision_(std::move(supervision)), unsupported_dtypes_(std::move(unsupported_dtypes)),
        poller_(supervision_.poll_completion ? std::make_shared<CompletionPoller>() : nullptr) {}

  int rank() const override { return group_->getRank(); }
  int world_size() const override { return group_->getSize(); }
  std::string backend() const override { return backend_; }
  torch::Device device() const override { return device_; }

  bool supports_dtype(torch::Dtype dtype) const override {
    for (auto unsupported : unsupported_dtypes_) {
      if (unsupported == dtype) return false;
    }
    return true;
  }

  std::unique_ptr<Work> all_reduce(torch::Tensor tensor, ReduceOp op) override {
    std::vector<torch::Tensor> tensors{std::move(tensor)};
    c10d::AllreduceOptions options;
    options.reduceOp = to_c10d(op);
    return issue("all_reduce", tensors[0], [&] { return group_->allreduce(tensors, options); });
  }

  std::unique_ptr<Work> broadcast(torch::Tensor tensor, int root) override {
    std::vector<torch::Tensor> tensors{std::move(tensor)};
    c10d::BroadcastOptions options;
    options.rootRank = root;
    return issue("broadcast", tensors[0], [&] { return group_->broadcast(tensors, options); });
  }

  std::unique_ptr<Work> all_gather(torch::Tensor output, torch::Tensor tensor) override {
    check_divisible(output, "all_gather output");
    // The backends copy each rank's part into the given tensors: views of `output` fill it.
    std::vector<std::vector<torch::Tensor>> outputs{output.view(-1).chunk(world_size())};
    std::vector<torch::Tensor> inputs{tensor.view(-1)};
    return issue("all_gather", inputs[0], [&] { return group_->allgather(outputs, inputs); });
  }

  std::unique_ptr<Work> reduce_scatter(torch::Tensor output, torch::Tensor input) override {
    check_divisible(input, "reduce_scatter input");
    if constexpr (kNativeReduceScatter) {
      std::vector<torch::Tensor> outputs{output};
      std::vector<std::vector<torch::Tensor>> inputs{input.view(-1).chunk(world_size())};
      return issue("reduce_scatter", input,
                   [&] { return group_->reduce_scatter(outputs, inputs, c10d::ReduceScatterOptions{}); });
    } else {
      // Composed: all-reduce a copy, keep this rank's slice (twice the bytes of a native one).
      auto sum = input.clone();
      std::vector<torch::Tensor> tensors{sum};
      auto slice = sum.view(-1).chunk(world_size())[rank()];
      return issue(
          "reduce_scatter", input, [&] { return group_->allreduce(tensors, c10d::AllreduceOptions{}); },
          [output, slice]() mutable { output.view(-1).copy_(slice); });
    }
  }

  std::unique_ptr<Work> barrier() override {
    return issue("barrier", torch::Tensor(), [&] { return group_->barrier(c10d::BarrierOptions{}); });
  }

 private:
  static c10d::ReduceOp to_c10d(ReduceOp op) {
    switch (op) {
      case ReduceOp::kMax: return c10d::ReduceOp::MAX;
      case ReduceOp::kMin: return c10d::ReduceOp::MIN;
      case ReduceOp::kSum: break;
    }
    return c10d::ReduceOp::SUM;
  }

  static std::string dtype_name(torch::Dtype dtype) {
    switch (dtype) {
      case torch::kFloat32: return "float32";
      case torch::kFloat64: return "float64";
      case torch::kFloat16: return "float16";
      case torch::kBFloat16: return "bfloat16";
      case torch::kInt64: return "int64";
      case torch::kInt32: return "int32";
      case torch::kUInt8: return "uint8";
      default: return c10::toString(dtype);
    }
  }

  void check_divisible(const torch::Tensor& tensor, const char* what) const {
    if (tensor.numel() % world_size() != 0) {
      throw Error(Error::Kind::kInternal,
                  fmt::format("{}: {} elements do not divide among {} ranks", what,
                              tensor.numel(), world_size()));
    }
  }

  // Records the collective in the flight recorder, issues it (`call`) and wraps its work; a
  // collective the backend refuses at once fails like one that failed later.
  template <class Call>
  std::unique_ptr<Work> issue(const char* op, const torch::Tensor& tensor, Call call,
                              std::function<void()> then = {}) {
    const auto& flight = supervision_.flight;
    const uint64_t seq =
        flight ? flight->issued(op, tensor.defined() ? dtype_name(tensor.scalar_type()) : "",
                                tensor.defined() ? tensor.numel() * static_cast<int64_t>(tensor.element_size()) : 0)
               : 0;
    const std::string what = flight ? fmt::format("collective #{} {} ({})", seq, op, backend_)
                                    : fmt::format("{} ({})", op, backend_);
    c10::intrusive_ptr<c10d::Work> work;
    try {
      work = call();
    } catch (const std::exception& e) {
      if (flight) flight->completed(seq, /*ok=*/false);
      const std::string cause = e.what();
      throw Error(Error::Kind::kDistributed, fmt::format("rank {}: {} could not be issued: {}", rank(), what,
                                                         cause.substr(0, cause.find('\n'))));
    }
    return std::make_unique<C10dWork>(std::move(work), what, rank(), supervision_, poller_, seq, std::move(then));
  }

  c10::intrusive_ptr<Group> group_;
  std::string backend_;
  torch::Device device_;
  Supervision supervision_;
  std::vector<torch::Dtype> unsupported_dtypes_;
  std::shared_ptr<CompletionPoller> poller_;  // null where the backend's futures say when (Gloo)
};

}  // namespace trainrt::dist
