// defines: DeviceFeeder
//
// The loader's batches on the training device. On a CUDA device the next batch's copy from the
// loader's pinned buffers starts on a side stream as soon as the current batch is handed out, so it
// runs while the current batch computes; the compute stream waits for it with an event, and a
// pinned buffer goes back to the loader only after its copy has finished. On the CPU it hands out
// the loader's batches as they are.
//
// Only device-generic LibTorch calls (c10::Stream, c10::Event), so it builds against CPU LibTorch.
#pragma once

#include <optional>
#include <vector>

#include <c10/core/Event.h>
#include <c10/core/Stream.h>
#include <torch/torch.h>

#include "trainrt/data/loader.h"

namespace trainrt::data {

class DeviceFeeder {
 public:
  // `loader` must outlive the feeder; for CUDA it should pin its memory (LoaderOptions::pin_memory).
  DeviceFeeder(Loader& loader, torch::Device device);

  // Loader::start_epoch, dropping a batch copied ahead from the epoch before.
  void start_epoch(int64_t epoch, int64_t start_sample = 0);
  // The next batch of the epoch on the device, or nullopt after its last. Its tensors are for the
  // current stream of the device.
  std::optional<Batch> next();
  // The position after the batches handed out by next() (not counting the one copied ahead);
  // what a checkpoint saves.
  LoaderPosition position() const;
  // Seconds the last next() waited for the loader to produce a batch (the copy's launch is not
  // waiting for data and is not counted).
  double last_wait_seconds() const { return last_wait_seconds_; }

 private:
  struct Staged {
    Batch host;     // the loader's (pinned) batch: kept until its copy is done
    Batch device;
    std::optional<c10::Event> copied;  // recorded on the side stream after the copy
    LoaderPosition position;           // the loader's position once this batch is handed out
  };
  // Takes the loader's next batch and starts its copy; nullopt at the end of the epoch.
  std::optional<Staged> stage();
  // loader_.next(), timed into last_wait_seconds_.
  std::optional<Batch> wait_for_loader();

  Loader& loader_;
  const torch::Device device_;
  std::optional<c10::Stream> copy_stream_;  // CUDA only
  std::optional<Staged> ahead_;             // the batch copied ahead
  std::vector<c10::Event> spare_events_;    // recorded and done: reused rather than re-created
  double last_wait_seconds_ = 0;
  bool epoch_done_ = false;
  LoaderPosition position_;
};

}  // namespace trainrt::data
