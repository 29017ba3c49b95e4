#include "trainrt/data/device_feeder.h"

#include <chrono>
#include <thread>

#include <c10/core/StreamGuard.h>
#include <c10/core/impl/VirtualGuardImpl.h>

#include "trainrt/obs/trace.h"

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

std::optional<Batch> DeviceFeeder::wait_for_loader() {
  const auto start = std::chrono::steady_clock::now();
  std::optional<Batch> batch;
  {
    obs::TraceSpan span("data wait");
    batch = loader_.next();
  }
  last_wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return batch;
}

std::optional<DeviceFeeder::Staged> DeviceFeeder::stage() {
  std::optional<Batch> host = wait_for_loader();
  if (!host) return std::nullopt;
  Staged staged;
  staged.position = loader_.position();
  staged.device = *host;  // rows, epoch, index
  staged.device.staging = at::Tensor();
  {
    // Allocated and copied on the side stream: the copy does not wait for the compute stream.
    obs::TraceSpan span("copy to device");
    c10::StreamGuard on_copy_stream(*copy_stream_);
    staged.device.input = host->input.to(device_, /*non_blocking=*/true);
    staged.device.target = host->target.to(device_, /*non_blocking=*/true);
  }
  if (spare_events_.empty()) {
    staged.copied.emplace(device_.type());
  } else {
    staged.copied.emplace(std::move(spare_events_.back()));
    spare_events_.pop_back();
  }
  staged.copied->record(*copy_stream_);
  staged.host = std::move(*host);
  return staged;
}

std::optional<Batch> DeviceFeeder::next() {
  last_wait_seconds_ = 0;
  if (!copy_stream_) {
    std::optional<Batch> batch = wait_for_loader();
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
  spare_events_.push_back(std::move(*current.copied));
  // The next batch's copy overlaps this one's compute.
  ahead_ = stage();
  if (!ahead_) epoch_done_ = true;
  return std::move(current.device);
}

LoaderPosition DeviceFeeder::position() const { return position_; }

}  // namespace trainrt::data
