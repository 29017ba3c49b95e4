// defines: GradientReducer, ReducerOptions, ReduceStats
//
// Averages gradients across ranks while the backward pass is still running. Parameters are
// grouped into buckets (dist/buckets.h); a hook on each parameter's gradient accumulator notes
// when its gradient is final, and once every gradient of a bucket is, the bucket is copied into
// one flat buffer and its all-reduce starts. The step then waits only for what is still in flight.
//
// Note [bucket order]: buckets are launched strictly in index order, the next one only once every
// earlier one has been. The backends match collectives by the order they are issued, so if rank A
// launched bucket 2 before bucket 1 while rank B did the reverse, they would sum unrelated
// gradients (or deadlock on mismatched sizes). A bucket that becomes ready early simply waits for
// its predecessors.
//
// Note [gradients as bucket views]: when the wire type is the parameters' type, each parameter's
// .grad is made to alias its slice of the bucket buffer (as DDP's gradient_as_bucket_view), so
// the backward pass writes gradients straight into the buffers: no copy in, no copy out, and one
// copy of the gradients in memory. The alias shares storage without being an autograd view, so
// optimizers may still detach_() and zero_() it. prepare_for_backward re-attaches any gradient an
// optimizer replaced or dropped.
//
// Usage, per optimizer step of k micro-batches:
//   for each micro-batch i: reducer.prepare_for_backward(/*communicate=*/i == k - 1); backward();
//   reducer.finish();  // gradients now hold the average over all ranks
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include <torch/csrc/autograd/function.h>
#include <torch/torch.h>

#include "trainrt/core/mutex.h"
#include "trainrt/core/thread_annotations.h"
#include "trainrt/dist/buckets.h"
#include "trainrt/dist/communicator.h"

namespace trainrt::dist {

struct ReducerOptions {
  BucketLimits limits;
  // Element type the gradients travel in: float32, or float16/bfloat16 to halve the bytes (the
  // sum is then rounded to that type; the parameters and optimizer stay in float32).
  torch::Dtype wire_dtype = torch::kFloat32;
  // This rank's rows of each global batch of `global_rows`, when the ranks' shares differ (a group
  // that lost a rank keeps its global batch, data/sampler.h): its gradient, a mean over its rows,
  // is weighted by rows / global_rows so that the sum is the mean over the global batch. 0: equal
  // shares, each divided by the world size.
  int64_t rows = 0;
  int64_t global_rows = 0;
};

// What one finish() observed; the overlap is measured, not assumed.
struct ReduceStats {
  // From the first bucket's launch to the last bucket's completion.
  double communication_ms = 0;
  // From the end of the backward pass (the call to finish) to the last bucket's completion: the
  // communication the backward pass did not hide.
  double exposed_ms = 0;
  // Buckets whose all-reduce started before the backward pass ended, of `buckets`.
  int launched_during_backward = 0;
  int buckets = 0;
  int64_t bytes = 0;  // this rank's bytes all-reduced
};

class GradientReducer {
 public:
  // `parameters`: the model's parameters in registration order; those not requiring grad are
  // left alone. Collective setup only (no communication).
  GradientReducer(const std::vector<torch::Tensor>& parameters,
                  std::shared_ptr<Communicator> communicator, ReducerOptions options = {});
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Before each backward pass: whether this one's gradients are the last of an optimizer step and
  // must be communicated (gradient accumulation skips communication for the others).
  void prepare_for_backward(bool communicate) EXCLUDES(mutex_);

  // After the communicating backward pass: launches any bucket the backward pass did not (e.g.
  // parameters it did not reach), waits for all of them and writes the averaged gradients back.
  ReduceStats finish() EXCLUDES(mutex_);

  // The bucket assignment, as parameter indices (among those requiring grad) in launch order.
  const std::vector<std::vector<size_t>>& buckets() const { return assignment_; }

 private:
  struct Bucket;
  class ReadyHook;

  void mark_ready(size_t parameter) EXCLUDES(mutex_);  // from the autograd engine's thread
  void launch_ready_buckets() REQUIRES(mutex_);
  // Throws the error of a launched bucket whose all-reduce already failed.
  void raise_failed_buckets() REQUIRES(mutex_);
  void launch(Bucket& bucket) REQUIRES(mutex_);
  void attach_gradient_views();       // Note [gradients as bucket views]
  bool holds_view(size_t parameter) const;  // its .grad is its slice of the bucket buffer

  std::vector<torch::Tensor> parameters_;
  std::shared_ptr<Communicator> communicator_;
  ReducerOptions options_;
  std::vector<std::vector<size_t>> assignment_;
  // The buckets' launch state (pending, work, launch times) is written under mutex_ while the
  // backward pass runs, and read by finish() without it once every bucket is launched (a late
  // mark_ready then returns at !communicate_). Their completion callbacks, on the backend's
  // threads, take no lock: they store one atomic (Bucket::completed_ns).
  std::vector<std::unique_ptr<Bucket>> buckets_;
  std::vector<size_t> bucket_of_;  // parameter -> bucket
  std::vector<size_t> offset_of_;  // parameter -> element offset in its bucket's buffer
  bool gradient_views_ = false;      // Note [gradients as bucket views]
  std::vector<torch::Tensor> views_; // parameter -> its slice of the buffer, shaped like it
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;
  std::vector<uintptr_t> hook_keys_;

  Mutex mutex_;
  bool communicate_ GUARDED_BY(mutex_) = false;
  bool backward_ended_ GUARDED_BY(mutex_) = false;
  std::vector<char> ready_ GUARDED_BY(mutex_);  // per parameter
  size_t next_bucket_ GUARDED_BY(mutex_) = 0;   // the next bucket to launch
  // TRAINRT_FAULT's "extra" collective (core/fault_injection.h), kept alive while it hangs.
  std::unique_ptr<Work> injected_extra_ GUARDED_BY(mutex_);
};

}  // namespace trainrt::dist
