#include "trainrt/ckpt/async_writer.h"

#include <chrono>

#include <fmt/format.h>

#include "trainrt/ckpt/catalog.h"
#include "trainrt/obs/trace.h"

namespace trainrt::ckpt {

AsyncCheckpointWriter::AsyncCheckpointWriter(std::string root, int keep_last)
    : root_(std::move(root)), keep_last_(keep_last) {
  thread_.start([this] { run(); }, [this] {
    MutexLock lock(mutex_);
    changed_.notify_all();
  });
}

AsyncCheckpointWriter::~AsyncCheckpointWriter() {
  wait();  // the write in flight is finished, not abandoned
  thread_.stop();
}

double AsyncCheckpointWriter::submit(std::function<CheckpointPayload()> make_payload) {
  const auto start = std::chrono::steady_clock::now();
  {
    MutexLock lock(mutex_);
    while (busy_) changed_.wait(lock);
    pending_ = std::move(make_payload);
    busy_ = true;
  }
  changed_.notify_all();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void AsyncCheckpointWriter::wait() {
  MutexLock lock(mutex_);
  while (busy_) changed_.wait(lock);
}

std::string AsyncCheckpointWriter::take_error() {
  MutexLock lock(mutex_);
  return std::exchange(error_, std::string());
}

std::string AsyncCheckpointWriter::last_committed() {
  MutexLock lock(mutex_);
  return last_committed_;
}

void AsyncCheckpointWriter::run() {
  obs::Trace::name_thread("checkpoint writer");
  MutexLock lock(mutex_);
  while (true) {
    while (!thread_.stop_requested() && !pending_) changed_.wait(lock);
    if (!pending_) return;  // stopping, nothing left to write
    auto make_payload = std::exchange(pending_, nullptr);
    lock.unlock();
    std::string error, committed;
    int64_t step = -1;
    try {
      obs::TraceSpan span("checkpoint write");
      const CheckpointPayload payload = make_payload();
      step = payload.step;
      committed = commit_checkpoint(root_, payload);
      if (keep_last_ > 0) prune_checkpoints(root_, keep_last_);
    } catch (const std::exception& e) {
      error = step >= 0 ? fmt::format("checkpoint at step {} not written: {}", step, e.what())
                        : fmt::format("checkpoint not written: {}", e.what());
    }
    lock.lock();
    if (!error.empty()) error_ = error;
    if (!committed.empty()) last_committed_ = committed;
    busy_ = false;
    changed_.notify_all();
  }
}

}  // namespace trainrt::ckpt
