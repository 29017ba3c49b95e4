// defines: AsyncCheckpointWriter
//
// Writes checkpoints on a background thread while training continues. The caller snapshots its
// state at a step boundary (host copies that later steps cannot change) and hands over a function
// that turns the snapshot into files; serialising and the commit (ckpt/commit.h) run on the writer
// thread. At most one write is in flight: a submit while one runs waits for it, and says how long.
// A failed write is kept and handed to the caller by take_error() (so it is reported, never lost);
// the previous checkpoint stays, and the next checkpoint is the retry.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "trainrt/ckpt/commit.h"
#include "trainrt/core/background_thread.h"
#include "trainrt/core/mutex.h"
#include "trainrt/core/thread_annotations.h"

namespace trainrt::ckpt {

class AsyncCheckpointWriter {
 public:
  // Checkpoints go under `root`; after each commit all but the newest `keep_last` are removed
  // (0: keep all).
  AsyncCheckpointWriter(std::string root, int keep_last);
  ~AsyncCheckpointWriter();  // finishes the write in flight
  AsyncCheckpointWriter(const AsyncCheckpointWriter&) = delete;
  AsyncCheckpointWriter& operator=(const AsyncCheckpointWriter&) = delete;

  // Starts writing what `make_payload` returns (called on the writer thread). Returns the seconds
  // it waited for the previous write to finish (the training stall this call caused).
  double submit(std::function<CheckpointPayload()> make_payload) EXCLUDES(mutex_);

  // Blocks until no write is in flight.
  void wait() EXCLUDES(mutex_);

  // The error of a write that failed since the last call ("" if none), e.g. "checkpoint at step
  // 300 not written: cannot write checkpoint file '...': No space left on device".
  std::string take_error() EXCLUDES(mutex_);

  // The directory of the last checkpoint committed ("" if none yet).
  std::string last_committed() EXCLUDES(mutex_);

 private:
  void run() EXCLUDES(mutex_);  // the writer thread's body

  const std::string root_;
  const int keep_last_;
  Mutex mutex_;
  CondVar changed_;  // a write was submitted or finished, or the thread is asked to stop
  std::function<CheckpointPayload()> pending_ GUARDED_BY(mutex_);
  bool busy_ GUARDED_BY(mutex_) = false;  // a write is in flight
  std::string error_ GUARDED_BY(mutex_);
  std::string last_committed_ GUARDED_BY(mutex_);
  BackgroundThread thread_;  // last: stopped before the members it uses go
};

}  // namespace trainrt::ckpt
