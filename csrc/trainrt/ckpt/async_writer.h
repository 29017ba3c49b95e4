// defines: AsyncCheckpointWriter
//
// Writes checkpoints on a background thread while training continues. The caller snapshots its
// state at a step boundary (host copies that later steps cannot change) and hands over a function
// that turns the snapshot into files; serialising and the commit (ckpt/commit.h) run on the writer
// thread. At most one write is in flight: a submit while one runs waits for it, and says how long.
// A failed write is kept and handed to the caller by take_error() (so it is reported, never lost);
// the previous checkpoint stays, and the next checkpoint is the retry.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "trainrt/ckpt/commit.h"

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
  double submit(std::function<CheckpointPayload()> make_payload);

  // Blocks until no write is in flight.
  void wait();

  // The error of a write that failed since the last call ("" if none), e.g. "checkpoint at step
  // 300 not written: cannot write checkpoint file '...': No space left on device".
  std::string take_error();

  // The directory of the last checkpoint committed ("" if none yet).
  std::string last_committed();

 private:
  void run();

  std::string root_;
  int keep_last_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::function<CheckpointPayload()> pending_;  // guarded by mutex_
  bool busy_ = false;                           // guarded by mutex_: a write is in flight
  bool stop_ = false;                           // guarded by mutex_
  std::string error_;                           // guarded by mutex_
  std::string last_committed_;                  // guarded by mutex_
  std::thread thread_;
};

}  // namespace trainrt::ckpt
