// defines: CompletionPoller
//
// Sees collectives complete on a backend whose futures say "done" too early. ProcessGroupNCCL
// completes a collective's future once the collective is queued on its CUDA stream, not when the
// GPU ran it; only the work's completion query (its CUDA events) tells. Callbacks hung on that
// future would clear the watchdog and stop the reducer's clock at once, and a stuck collective
// would then block the next `.item()` with no watchdog left to see it. One thread per
// communicator polls the queries of the collectives in flight (every kInterval while any are,
// asleep while none are) and runs each one's callback when its query says so.
#pragma once

#include <chrono>
#include <functional>
#include <utility>
#include <vector>

#include "trainrt/core/background_thread.h"
#include "trainrt/core/mutex.h"
#include "trainrt/core/thread_annotations.h"

namespace trainrt::dist {

class CompletionPoller {
 public:
  // A query costs a CUDA event query (about a microsecond); timings are good to this much.
  static constexpr std::chrono::microseconds kInterval{100};

  CompletionPoller();
  ~CompletionPoller();
  CompletionPoller(const CompletionPoller&) = delete;
  CompletionPoller& operator=(const CompletionPoller&) = delete;

  // Runs `on_complete` (on the poller's thread) once `is_complete` returns true or throws. Both must
  // be cheap and never block. Callbacks of collectives still in flight when the poller is
  // destroyed never run.
  void watch(std::function<bool()> is_complete, std::function<void()> on_complete) EXCLUDES(mutex_);

 private:
  using Pending = std::pair<std::function<bool()>, std::function<void()>>;
  void poll() EXCLUDES(mutex_);  // the thread's body
  // Takes the completed ones out of `pending_`, in the order they were given.
  std::vector<Pending> take_completed() EXCLUDES(mutex_);

  Mutex mutex_;
  CondVar changed_;
  std::vector<Pending> pending_ GUARDED_BY(mutex_);
  BackgroundThread thread_;  // last: stopped before the members it uses go
};

}  // namespace trainrt::dist
