// defines: Communicator, Work, ReduceOp
//
// The collectives data-parallel training needs, as one interface with one implementation per
// backend (gloo_communicator.h for CPU tensors, nccl_communicator.h for CUDA tensors). Every call
// is asynchronous and returns a Work to wait on; calls must be issued in the same order on every
// rank, which is how the backends match them up. A failed or timed-out collective raises
// trainrt::Error (kind kDistributed) naming the operation and this rank.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace trainrt::dist {

enum class ReduceOp { kSum, kMax, kMin };

// A collective in flight.
class Work {
 public:
  virtual ~Work() = default;
  // Blocks until the collective completed; throws trainrt::Error if it failed or timed out.
  virtual void wait() = 0;
  // Whether it completed (successfully or not); never blocks.
  virtual bool completed() = 0;
  // Runs `callback` once the collective completes, on whichever thread completes it (or now, if
  // it already has). For timing, not for work: keep it short.
  virtual void on_completion(std::function<void()> callback) = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // "gloo" or "nccl".
  virtual std::string backend() const = 0;
  // Where the tensors given to its collectives must live (the CPU for Gloo, this process's CUDA
  // device for NCCL).
  virtual torch::Device device() const = 0;
  // Whether this backend can sum tensors of `dtype` (Gloo in LibTorch 1.13 cannot sum bfloat16).
  virtual bool supports_dtype(torch::Dtype dtype) const = 0;

  // In place: every rank's `tensor` becomes the reduction over all ranks.
  virtual std::unique_ptr<Work> all_reduce(torch::Tensor tensor, ReduceOp op = ReduceOp::kSum) = 0;
  // In place: every rank's `tensor` becomes `root`'s.
  virtual std::unique_ptr<Work> broadcast(torch::Tensor tensor, int root = 0) = 0;
  // `output` (world_size x tensor's elements, contiguous) receives every rank's `tensor`, in rank
  // order.
  virtual std::unique_ptr<Work> all_gather(torch::Tensor output, torch::Tensor tensor) = 0;
  // `output` receives this rank's slice (rank-th of world_size equal parts) of the sum of every
  // rank's `input`; input's elements must divide by world_size.
  virtual std::unique_ptr<Work> reduce_scatter(torch::Tensor output, torch::Tensor input) = 0;
  virtual std::unique_ptr<Work> barrier() = 0;
};

}  // namespace trainrt::dist
