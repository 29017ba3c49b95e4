// defines: Watchdog
//
// Catches collectives that never complete. A backend's own timeout covers most failures, but a
// stuck NCCL kernel or a peer that holds its connections open without ever answering can block a
// wait forever. Every collective is registered when issued and cleared when it completes; one
// thread checks their ages, and when one exceeds the deadline it calls `on_stuck` once with a
// description, e.g. "rank 1: all_reduce (nccl) has not completed after 600.0 s". The default
// action (dist/connect.cpp) reports that and ends the process: nothing else can unblock the
// waiting thread, and the launcher then sees a failure instead of a hang.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "trainrt/core/background_thread.h"
#include "trainrt/core/mutex.h"
#include "trainrt/core/thread_annotations.h"

namespace trainrt::dist {

class Watchdog {
 public:
  using Clock = std::chrono::steady_clock;

  Watchdog(std::chrono::milliseconds deadline, std::function<void(const std::string&)> on_stuck);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Registers a collective being issued; returns the id to clear it with.
  uint64_t track(std::string what) EXCLUDES(mutex_);
  // The collective completed (successfully or not). Safe from any thread.
  void done(uint64_t id) EXCLUDES(mutex_);

 private:
  void watch() EXCLUDES(mutex_);  // the thread's body
  // The message for the oldest collective if it is past the deadline and none fired before; "".
  std::string overdue() EXCLUDES(mutex_);

  const std::chrono::milliseconds deadline_;
  const std::function<void(const std::string&)> on_stuck_;  // called without mutex_ held
  Mutex mutex_;
  bool fired_ GUARDED_BY(mutex_) = false;
  uint64_t next_id_ GUARDED_BY(mutex_) = 0;
  std::map<uint64_t, std::pair<std::string, Clock::time_point>> in_flight_ GUARDED_BY(mutex_);
  BackgroundThread thread_;  // last: stopped before the members it uses go
};

}  // namespace trainrt::dist
