#include "trainrt/data/device_feeder.h"

#include <thread>

#include <c10/core/StreamGuard.h>
#include <c10/core/impl/VirtualGuardImpl.h>

namespace trainrt::data {

DeviceFeeder::DeviceFeeder(Loader& loader, torch::Device device) : loader_(loader), device_(device) {
  if (device_.is_cuda()) {
    copy_stream_ = c10::impl::VirtualGuardImpl(device_.type()).getStreamFromGlobalPool(device_);
  }
  position_ = loader_.position();
}

void DeviceFeeder::start_epoch(int64_t epoch, int64_t start_sample) {
  if (ahead_ && ahead_->copied) {
    // Its pinned buffer may still be the source of a copy: finish it before the loader reuses it.
    while (!ahead_->copied->query()) std::this_thread::yield();
  }
  ahead_.reset();
  epoch_done_ = false;
  loader_.start_epoch(epoch, start_sample);
  position_ = loader_.position();
}

std::optional<DeviceFeeder::Staged> DeviceFeeder::stage() {
  std::optional<Batch> host = loader_.next();
  if (!host) return std::nullopt;
  Staged staged;
  staged.position = loader_.position();
  staged.device = *host;  // rows, epoch, index
  staged.device.staging = at::Tensor();
  {
    // Allocated and copied on the side stream: the copy does not wait for the compute stream.
    c10::StreamGuard on_copy_stream(*copy_stream_);
    staged.device.input = host->input.to(device_, /*non_blocking=*/true);
    staged.device.target = host->target.to(device_, /*non_blocking=*/true);
  }
  staged.copied.emplace(device_.type());
  staged.copied->record(*copy_stream_);
  staged.host = std::move(*host);
  return staged;
}

std::optional<Batch> DeviceFeeder::next() {
  if (!copy_stream_) {
    std::optional<Batch> batch = loader_.next();
    position_ = loader_.position();
    return batch;
  }
  if (!ahead_ && !epoch_done_) ahead_ = stage();
  if (!ahead_) {
    epoch_done_ = true;
    return std::nullopt;
  }
  Staged current = std::move(*ahead_);
  ahead_.reset();
  position_ = current.position;
  {
    const c10::Stream compute = c10::impl::VirtualGuardImpl(device_.type()).getStream(device_);
    current.copied->block(compute);
    // The tensors were allocated on the side stream but are used on the compute stream: the
    // allocator must not hand their memory out again before the compute stream is done with it.
    current.device.input.record_stream(compute);
    current.device.target.record_stream(compute);
  }
  // Copied a step ago, so normally long done. Its pinned buffer goes back before the loader is asked
  // for the next batch, which frees that buffer's slot: a buffer still held then would make the
  // loader pin a new one.
  while (!current.copied->query()) std::this_thread::yield();
  current.host = Batch();
  // The next batch's copy overlaps this one's compute.
  ahead_ = stage();
  if (!ahead_) epoch_done_ = true;
  return std::move(current.device);
}

LoaderPosition DeviceFeeder::position() const { return position_; }

}  // namespace trainrt::data
