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
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

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
  void start_epoch(int64_t epoch, int64_t start_sample = 0);
  // Batches this epoch yields from its start position.
  int64_t batches_this_epoch() const { return end_; }

  // The position after the batches handed out so far; start_epoch(p.epoch, p.sample) on a new
  // loader (of any world size) continues from there.
  LoaderPosition position() const;

  // Samples skipped in this epoch (options.skip_bad_samples), with the first error's message.
  int64_t skipped_samples() const { return skipped_.load(); }
  std::string first_skip_reason() const;

  // The next batch of the epoch, or nullopt after its last. A worker's error (e.g. a corrupt
  // sample) is rethrown here, at the batch it belongs to.
  std::optional<Batch> next();

 private:
  struct Slot {
    Batch buffer;              // full capacity, recycled
    bool ready = false;
    int64_t batch = -1;        // which batch of the epoch the slot holds
    std::exception_ptr error;  // set instead of a batch when producing it failed
  };

  void worker_loop();
  // Reads and collates batch `batch` of the current epoch into `buffer`; returns the rows filled.
  int64_t produce(Batch& buffer, int64_t batch);
  bool buffer_is_free(const Batch& buffer) const;
  Batch allocate_buffer() const;
  Batch view_of(const Slot& slot, int64_t rows) const;

  const std::shared_ptr<const Dataset> dataset_;
  const std::shared_ptr<const Collator> collator_;
  const LoaderOptions options_;
  const int64_t batches_per_epoch_;

  mutable std::mutex mutex_;
  std::condition_variable work_ready_;   // workers wait for a batch to produce
  std::condition_variable batch_ready_;  // next() waits for its batch
  std::vector<Slot> slots_;              // batch b lives in slots_[b % prefetch]
  std::vector<int64_t> slot_rows_;       // rows of the batch in each slot
  std::vector<int64_t> order_;           // the epoch's sample order (read-only during an epoch)
  int64_t epoch_ = -1;
  int64_t start_sample_ = 0;             // the epoch's start position
  std::atomic<int64_t> skipped_{0};
  std::string first_skip_reason_;        // guarded by mutex_
  int64_t next_to_produce_ = 0;          // guarded by mutex_
  int64_t next_to_return_ = 0;           // guarded by mutex_
  int64_t released_ = 0;                 // batches whose slots may be refilled; guarded by mutex_
  int64_t end_ = 0;                      // one past the epoch's last batch
  int in_flight_ = 0;                    // batches being produced right now; guarded by mutex_
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace trainrt::data
