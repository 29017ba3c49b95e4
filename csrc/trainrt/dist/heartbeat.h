// defines: Heartbeat
//
// How a rank tells which peer it lost. Gloo reports a failed collective as "connection closed by
// peer <address>", which names no rank; `trainrt launch` writes the rank of a worker that exited
// into the store (read first, at once), and every rank bumps a counter in the rendezvous store once
// a period, so that otherwise the survivors look for the counters that stopped. Uses a
// store connection of its own (c10d's store clients are not meant to be shared across threads).
//
// Note [heartbeat store calls]: only the heartbeat's thread calls the store, and never with
// mutex_ held. diagnose() asks the thread for a diagnosis and waits for it, but no longer than
// the store stays silent: when the store's last call failed, or one has been in flight for the
// store's own timeout, the store is reported lost at once. (A store call under the mutex held
// diagnose() behind the thread's blocked call and then blocked it once more: in a partition the
// error came after about 3x distributed.timeout_seconds.)
#pragma once

#include <chrono>
#include <optional>
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
  // launcher hosts it, is gone), as soon as it is silent for its own timeout. "" when every rank
  // is still beating.
  std::string diagnose() EXCLUDES(mutex_);

 private:
  using Clock = std::chrono::steady_clock;

  // The thread's side (Note [heartbeat store calls]).
  void run() EXCLUDES(mutex_);
  void beat() EXCLUDES(mutex_);
  void serve(int request) EXCLUDES(mutex_);
  std::string diagnosis() EXCLUDES(mutex_);  // throws if the store does not answer
  std::vector<int64_t> counters() EXCLUDES(mutex_);
  // Runs one store call, noting when it started and whether it failed.
  template <typename Call>
  auto ask_store(Call call) EXCLUDES(mutex_);
  // Sleeps until `deadline`, a stop, or (when `for_requests`) a diagnosis asked; false on a stop.
  bool sleep_until(Clock::time_point deadline, bool for_requests) EXCLUDES(mutex_);

  bool store_silent() REQUIRES(mutex_);

  const c10::intrusive_ptr<c10d::Store> store_;  // the thread's alone
  const int rank_;
  const int world_size_;
  const std::chrono::milliseconds period_;
  const std::chrono::milliseconds silence_limit_;  // the store's own timeout

  Mutex mutex_;
  CondVar changed_;
  int asked_ GUARDED_BY(mutex_) = 0;   // diagnoses asked for, numbered from 1
  int served_ GUARDED_BY(mutex_) = 0;  // the newest one the thread has answered
  std::string result_ GUARDED_BY(mutex_);
  std::optional<Clock::time_point> in_flight_since_ GUARDED_BY(mutex_);
  bool store_failed_ GUARDED_BY(mutex_) = false;  // its last call threw
  BackgroundThread thread_;  // last: stopped before the members it uses go
};

}  // namespace trainrt::dist
