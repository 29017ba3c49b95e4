// defines: LoaderOptions, Loader
//
// The prefetching loader: worker threads read samples, augment and collate them into recycled batch
// buffers while the trainer computes; at most `prefetch` batches are ready or in flight, so memory
// is bounded by that, not by the data set. Batches come out in sampler order whatever the number of
// threads and their timing, and every random draw depends only on (seed, epoch, sample index): the
// same seed gives the same batches, bit for bit, with 1 thread or 8.
//
//   Loader loader(dataset, collator, {.batch_size = 128, .threads = 2, .shuffle = true});
//   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
//     loader.start_epoch(epoch);
//     while (auto batch = loader.next()) train_step(batch->input, batch->target);
//   }
//
// A batch's tensors are recycled once the next batch is asked for; keep a copy (clone) to hold on
// to one longer. (If a handed-out batch is still referenced, the loader allocates a new buffer
// rather than overwrite it.)
#pragma once

#include <atomic>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "trainrt/core/mutex.h"
#include "trainrt/core/thread_annotations.h"
#include "trainrt/data/batch.h"
#include "trainrt/data/dataset.h"
#include "trainrt/data/sampler.h"

namespace trainrt::data {

// Where a loader is: the epoch, and how many of its samples (global, all ranks together) the
// batches handed out so far cover. Saved in checkpoints; meaningful under any world size.
struct LoaderPosition {
  int64_t epoch = 0;
  int64_t sample = 0;
};

struct LoaderOptions {
  int64_t batch_size = 1;  // per rank
  int threads = 1;         // 0: produce batches in the caller's thread, in next()
  int prefetch = 4;        // batches ready or in flight at most
  bool shuffle = false;
  Remainder remainder = Remainder::kDrop;
  uint64_t seed = 0;
  int rank = 0;
  int world_size = 1;
  // Samples in each global batch (all ranks together); 0: batch_size x world_size. When it does
  // not divide by world_size the ranks' shares differ by one (data/sampler.h) and batch_size must
  // hold the larger.
  int64_t global_batch = 0;
  // A sample whose reading or decoding throws trainrt::Error is left out of its batch (which comes
  // out one row shorter) and counted, instead of failing the batch.
  bool skip_bad_samples = false;
  // Allocate the batch buffers in page-locked host memory, so that a copy to a CUDA device can be
  // asynchronous. Needs a CUDA build of LibTorch with a device present (Loader throws otherwise).
  bool pin_memory = false;
};

class Loader {
 public:
  Loader(std::shared_ptr<const Dataset> dataset, std::shared_ptr<const Collator> collator,
         LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Batches in a whole epoch.
  int64_t batches_per_epoch() const { return batches_per_epoch_; }
  const LoaderOptions& options() const { return options_; }

  // Starts epoch `epoch` at global sample position `start_sample` (0, or a saved position to
  // resume mid-epoch); abandons any epoch in progress.
  void start_epoch(int64_t epoch, int64_t start_sample = 0) EXCLUDES(mutex_);
  // Batches this epoch yields from its start position.
  int64_t batches_this_epoch() const EXCLUDES(mutex_);

  // The position after the batches handed out so far; start_epoch(p.epoch, p.sample) on a new
  // loader (of any world size) continues from there.
  LoaderPosition position() const EXCLUDES(mutex_);

  // Samples skipped in this epoch (options.skip_bad_samples), with the first error's message.
  int64_t skipped_samples() const { return skipped_.load(); }
  std::string first_skip_reason() const EXCLUDES(mutex_);

  // The next batch of the epoch, or nullopt after its last. A worker's error (e.g. a corrupt
  // sample) is rethrown here, at the batch it belongs to.
  std::optional<Batch> next() EXCLUDES(mutex_);

 private:
  struct Slot {
    Batch buffer;              // full capacity, recycled
    bool ready = false;
    int64_t batch = -1;        // which batch of the epoch the slot holds
    std::exception_ptr error;  // set instead of a batch when producing it failed
  };

  void worker_loop() EXCLUDES(mutex_);
  // next() with options.threads == 0. No worker exists then, so nothing runs beside the caller
  // and the state is used without mutex_ (which produce() takes: holding it here would deadlock).
  std::optional<Batch> next_in_caller() NO_THREAD_SAFETY_ANALYSIS;
  // Reads and collates batch `batch` of the current epoch into `buffer`; returns the rows filled.
  // Runs without mutex_ (it takes it to record a skipped sample).
  int64_t produce(Batch& buffer, int64_t batch) EXCLUDES(mutex_);
  bool buffer_is_free(const Batch& buffer) const;
  Batch allocate_buffer() const;
  Batch view_of(const Slot& slot, int64_t rows) const;

  const std::shared_ptr<const Dataset> dataset_;
  const std::shared_ptr<const Collator> collator_;
  const LoaderOptions options_;
  const int64_t global_batch_;  // options_.global_batch, or batch_size x world_size
  const Share share_;           // this rank's rows of each global batch
  const int64_t batches_per_epoch_;

  mutable Mutex mutex_;
  CondVar work_ready_;   // workers wait for a batch to produce
  CondVar batch_ready_;  // next() waits for its batch
  // Batch b lives in slots_[b % prefetch]. A slot's ready/batch/error change under mutex_; its
  // buffer belongs to the one worker producing into it (reached through a reference taken under
  // mutex_), and is read by next() once the slot is ready.
  std::vector<Slot> slots_ GUARDED_BY(mutex_);
  std::vector<int64_t> slot_rows_ GUARDED_BY(mutex_);  // rows of the batch in each slot
  // The epoch's sample order, number and start position: written by start_epoch while no batch
  // is in flight (under mutex_), read without it during the epoch (produce() on the workers).
  std::vector<int64_t> order_;
  int64_t epoch_ = -1;
  int64_t start_sample_ = 0;
  std::atomic<int64_t> skipped_{0};
  std::string first_skip_reason_ GUARDED_BY(mutex_);
  int64_t next_to_produce_ GUARDED_BY(mutex_) = 0;
  int64_t next_to_return_ GUARDED_BY(mutex_) = 0;
  int64_t released_ GUARDED_BY(mutex_) = 0;  // batches whose slots may be refilled
  int64_t end_ GUARDED_BY(mutex_) = 0;       // one past the epoch's last batch
  int in_flight_ GUARDED_BY(mutex_) = 0;     // batches being produced right now
  bool stopping_ GUARDED_BY(mutex_) = false;
  std::vector<std::thread> workers_;  // a pool, stopped by ~Loader (not a BackgroundThread)
};

}  // namespace trainrt::data
