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
#include "trainrt/dist/supervision.h"

namespace trainrt::dist {

class C10dWork : public Work {
 public:
  // `then` runs once, after a successful wait (e.g. to copy a result into place).
  C10dWork(c10::intrusive_ptr<c10d::Work> work, std::string what, int rank,
           const Supervision& supervision, std::function<void()> then = {})
      : work_(std::move(work)), what_(std::move(what)), rank_(rank),
        diagnose_(supervision.diagnose), then_(std::move(then)) {
    if (auto watchdog = supervision.watchdog) {
      const uint64_t id = watchdog->track(fmt::format("rank {}: {}", rank_, what_));
      on_completion([watchdog, id] { watchdog->done(id); });
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
    work_->getFuture()->addCallback(
        [callback = std::move(callback)](c10::ivalue::Future&) { callback(); });
  }

 private:
  Error failure(const std::string& cause) const {
    // The backends' messages name a socket or a timeout, not a rank: say what was running.
    std::string first_line = cause.substr(0, cause.find('\n'));
    const std::string lost = diagnose_ ? diagnose_() : std::string();
    return Error(Error::Kind::kDistributed,
                 fmt::format("rank {}: {} failed: {}; {}", rank_, what_, first_line,
                             lost.empty() ? "a peer process exited, was killed or stopped answering "
                                            "within distributed.timeout_seconds"
                                          : lost));
  }

  c10::intrusive_ptr<c10d::Work> work_;
  std::string what_;
  int rank_;
  std::function<std::string()> diagnose_;
  std::function<void()> then_;
};

// `kNativeReduceScatter`: whether Group implements reduce_scatter (NCCL does, Gloo does not).
template <class Group, bool kNativeReduceScatter>
class C10dCommunicator : public Communicator {
 public:
  C10dCommunicator(c10::intrusive_ptr<Group> group, std::string backend, torch::Device device,
                   Supervision supervision, std::vector<torch::Dtype> unsupported_dtypes = {})
      : group_(std::move(group)), backend_(std::move(backend)), device_(device),
        supervision_(std::move(supervision)), unsupported_dtypes_(std::move(unsupported_dtypes)) {}

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
    return wrap(group_->allreduce(tensors, options), "all_reduce");
  }

  std::unique_ptr<Work> broadcast(torch::Tensor tensor, int root) override {
    std::vector<torch::Tensor> tensors{std::move(tensor)};
    c10d::BroadcastOptions options;
    options.rootRank = root;
    return wrap(group_->broadcast(tensors, options), "broadcast");
  }

  std::unique_ptr<Work> all_gather(torch::Tensor output, torch::Tensor tensor) override {
    check_divisible(output, "all_gather output");
    // The backends copy each rank's part into the given tensors: views of `output` fill it.
    std::vector<std::vector<torch::Tensor>> outputs{output.view(-1).chunk(world_size())};
    std::vector<torch::Tensor> inputs{tensor.view(-1)};
    return wrap(group_->allgather(outputs, inputs), "all_gather");
  }

  std::unique_ptr<Work> reduce_scatter(torch::Tensor output, torch::Tensor input) override {
    check_divisible(input, "reduce_scatter input");
    if constexpr (kNativeReduceScatter) {
      std::vector<torch::Tensor> outputs{output};
      std::vector<std::vector<torch::Tensor>> inputs{input.view(-1).chunk(world_size())};
      return wrap(group_->reduce_scatter(outputs, inputs, c10d::ReduceScatterOptions{}),
                  "reduce_scatter");
    } else {
      // Composed: all-reduce a copy, keep this rank's slice (twice the bytes of a native one).
      auto sum = input.clone();
      std::vector<torch::Tensor> tensors{sum};
      auto slice = sum.view(-1).chunk(world_size())[rank()];
      return wrap(group_->allreduce(tensors, c10d::AllreduceOptions{}), "reduce_scatter",
                  [output, slice]() mutable { output.view(-1).copy_(slice); });
    }
  }

  std::unique_ptr<Work> barrier() override {
    return wrap(group_->barrier(c10d::BarrierOptions{}), "barrier");
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

  void check_divisible(const torch::Tensor& tensor, const char* what) const {
    if (tensor.numel() % world_size() != 0) {
      throw Error(Error::Kind::kInternal,
                  fmt::format("{}: {} elements do not divide among {} ranks", what,
                              tensor.numel(), world_size()));
    }
  }

  std::unique_ptr<Work> wrap(c10::intrusive_ptr<c10d::Work> work, const char* what,
                             std::function<void()> then = {}) {
    return std::make_unique<C10dWork>(std::move(work), fmt::format("{} ({})", what, backend_),
                                      rank(), supervision_, std::move(then));
  }

  c10::intrusive_ptr<Group> group_;
  std::string backend_;
  torch::Device device_;
  Supervision supervision_;
  std::vector<torch::Dtype> unsupported_dtypes_;
};

}  // namespace trainrt::dist
