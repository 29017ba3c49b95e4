#include "trainrt/data/loader.h"

#include <algorithm>

#include <fmt/format.h>

#include "trainrt/core/error.h"
#include "trainrt/core/rng.h"
#include "trainrt/obs/trace.h"

namespace trainrt::data {

Loader::Loader(std::shared_ptr<const Dataset> dataset, std::shared_ptr<const Collator> collator,
               LoaderOptions options)
    : dataset_(std::move(dataset)), collator_(std::move(collator)), options_(options),
      global_batch_(options.global_batch > 0 ? options.global_batch
                                             : options.batch_size * options.world_size),
      share_(share_of(global_batch_, options.rank, std::max(1, options.world_size))),
      batches_per_epoch_(data::batches_per_epoch(dataset_->size(), global_batch_, 1,
                                                 options.remainder)) {
  if (options_.batch_size < 1 || options_.prefetch < 1 || options_.threads < 0 ||
      options_.world_size < 1 || options_.rank < 0 || options_.rank >= options_.world_size ||
      share_.count > options_.batch_size) {
    throw DataError(fmt::format("loader: invalid options (batch_size {}, prefetch {}, threads {}, "
                                "rank {} of {})", options_.batch_size, options_.prefetch,
                                options_.threads, options_.rank, options_.world_size));
  }
  const int slots = options_.threads == 0 ? 1 : options_.prefetch;
  slots_.resize(static_cast<size_t>(slots));
  slot_rows_.assign(static_cast<size_t>(slots), 0);
  for (auto& slot : slots_) slot.buffer = allocate_buffer();
  for (int t = 0; t < options_.threads; ++t) {
    workers_.emplace_back([this, t] {
      obs::Trace::name_thread("loader " + std::to_string(t + 1));
      worker_loop();
    });
  }
}

Loader::~Loader() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void Loader::start_epoch(int64_t epoch, int64_t start_sample) {
  MutexLock lock(mutex_);
  // Hand out no more work of the old epoch, and wait for what is being produced to land.
  end_ = next_to_produce_;
  while (in_flight_ != 0) batch_ready_.wait(lock);

  order_ = epoch_order(dataset_->size(), options_.shuffle, options_.seed, epoch);
  epoch_ = epoch;
  start_sample_ = std::clamp<int64_t>(start_sample, 0, dataset_->size());
  next_to_produce_ = next_to_return_ = released_ = 0;
  end_ = data::batches_per_epoch(dataset_->size(), global_batch_, 1, options_.remainder, start_sample_);
  skipped_ = 0;
  first_skip_reason_.clear();
  for (auto& slot : slots_) {
    slot.ready = false;
    slot.batch = -1;
    slot.error = nullptr;
  }
  work_ready_.notify_all();
}

int64_t Loader::batches_this_epoch() const {
  MutexLock lock(mutex_);
  return end_;
}

std::optional<Batch> Loader::next() {
  if (epoch_ < 0) throw DataError("loader: next() called before start_epoch()");
  if (options_.threads == 0) return next_in_caller();

  MutexLock lock(mutex_);
  const auto slot_count = static_cast<int64_t>(slots_.size());
  released_ = next_to_return_;  // the batch returned last time is done with
  // Its slot is one batch of work for one worker: waking them all would have every worker contend
  // for this mutex while the training thread needs it.
  work_ready_.notify_one();
  if (next_to_return_ >= end_) return std::nullopt;
  const int64_t batch = next_to_return_;
  Slot& slot = slots_[batch % slot_count];
  while (!(slot.ready && slot.batch == batch)) batch_ready_.wait(lock);
  slot.ready = false;
  ++next_to_return_;
  if (slot.error) {
    std::exception_ptr error = slot.error;
    slot.error = nullptr;
    std::rethrow_exception(error);
  }
  return view_of(slot, slot_rows_[batch % slot_count]);
}

std::optional<Batch> Loader::next_in_caller() {
  if (next_to_return_ >= end_) return std::nullopt;
  const int64_t batch = next_to_return_++;
  Slot& slot = slots_[0];
  if (!buffer_is_free(slot.buffer)) slot.buffer = allocate_buffer();
  slot.batch = batch;
  return view_of(slot, produce(slot.buffer, batch));
}

void Loader::worker_loop() {
  MutexLock lock(mutex_);
  const auto slot_count = static_cast<int64_t>(slots_.size());
  while (true) {
    while (!stopping_ && !(next_to_produce_ < end_ && next_to_produce_ < released_ + slot_count)) {
      work_ready_.wait(lock);
    }
    if (stopping_) return;
    const int64_t batch = next_to_produce_++;
    Slot& slot = slots_[batch % slot_count];  // this worker's until it is marked ready
    ++in_flight_;
    lock.unlock();

    int64_t rows = 0;
    std::exception_ptr error;
    try {
      obs::TraceSpan span("load batch");
      if (!buffer_is_free(slot.buffer)) slot.buffer = allocate_buffer();
      rows = produce(slot.buffer, batch);
    } catch (...) {
      error = std::current_exception();
    }

    lock.lock();
    --in_flight_;
    slot.ready = true;
    slot.batch = batch;
    slot.error = error;
    slot_rows_[batch % slot_count] = rows;
    batch_ready_.notify_one();  // only the consumer waits on it
  }
}

int64_t Loader::produce(Batch& buffer, int64_t batch) {
  const auto indices = share_indices(order_, batch, global_batch_, share_, options_.remainder, start_sample_);
  int64_t rows = 0;
  for (const int64_t index : indices) {
    const uint64_t sample_seed = derive_seed(options_.seed, static_cast<uint64_t>(epoch_),
                                             static_cast<uint64_t>(index));
    if (!options_.skip_bad_samples) {
      collator_->put(buffer, rows++, dataset_->get(index), sample_seed, index);
      continue;
    }
    try {
      collator_->put(buffer, rows, dataset_->get(index), sample_seed, index);
      ++rows;
    } catch (const Error& e) {
      if (skipped_.fetch_add(1) == 0) {
        MutexLock lock(mutex_);
        first_skip_reason_ = e.what();
      }
    }
  }
  collator_->finish(buffer, rows);
  return rows;
}

LoaderPosition Loader::position() const {
  MutexLock lock(mutex_);
  return {epoch_, std::min(dataset_->size(), start_sample_ + next_to_return_ * global_batch_)};
}

std::string Loader::first_skip_reason() const {
  MutexLock lock(mutex_);
  return first_skip_reason_;
}

Batch Loader::allocate_buffer() const {
  Batch buffer = collator_->allocate(options_.batch_size);
  if (options_.pin_memory) {
    // Only what is handed to the trainer needs pinning; the staging area stays pageable.
    buffer.input = buffer.input.pin_memory();
    buffer.target = buffer.target.pin_memory();
  }
  return buffer;
}

bool Loader::buffer_is_free(const Batch& buffer) const {
  // Views handed out hold references to the buffer's storage.
  return buffer.input.storage().use_count() == 1 && buffer.target.storage().use_count() == 1;
}

Batch Loader::view_of(const Slot& slot, int64_t rows) const {
  Batch batch;
  batch.input = slot.buffer.input.narrow(0, 0, rows);
  batch.target = slot.buffer.target.narrow(0, 0, rows);
  batch.rows = rows;
  batch.epoch = epoch_;
  batch.index = slot.batch;
  return batch;
}

}  // namespace trainrt::data
