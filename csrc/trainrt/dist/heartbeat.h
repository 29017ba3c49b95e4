// defines: Heartbeat
//
// How a rank tells which peer it lost. Gloo reports a failed collective as "connection closed by
// peer <address>", which names no rank; `trainrt launch` writes the rank of a worker that exited
// into the store (read first, at once), and every rank bumps a counter in the rendezvous store once
// a period, so that otherwise the survivors look for the counters that stopped. Uses a
// store connection of its own (c10d's store clients are not meant to be shared across threads).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <torch/csrc/distributed/c10d/Store.hpp>

#include "trainrt/core/background_thread.h"
#include "trainrt/core/mutex.h"
#include "trainrt/core/thread_annotations.h"

namespace trainrt::dist {

class Heartbeat {
 public:
  Heartbeat(c10::intrusive_ptr<c10d::Store> store, int rank, int world_size,
            std::chrono::milliseconds period = std::chrono::milliseconds(500));
  ~Heartbeat();
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

  // Watches the counters for a few periods and says which ranks stopped, e.g. "lost rank 3 (no
  // heartbeat for 1.5 s)"; or that the store itself stopped answering (its host, rank 0 unless a
  // launcher hosts it, is gone). "" when every rank is still beating.
  std::string diagnose() EXCLUDES(mutex_);

 private:
  void beat() EXCLUDES(mutex_);                      // the thread's body
  // What launchers wrote of exited ranks (lost/<rank>, dist/membership.h); "" if nothing.
  std::string launcher_report() EXCLUDES(mutex_);
  std::vector<int64_t> counters() EXCLUDES(mutex_);  // throws if the store does not answer

  Mutex mutex_;  // serialises this object's use of the store
  const c10::intrusive_ptr<c10d::Store> store_ PT_GUARDED_BY(mutex_);
  const int rank_;
  const int world_size_;
  const std::chrono::milliseconds period_;
  BackgroundThread thread_;  // last: stopped before the members it uses go
};

}  // namespace trainrt::dist
