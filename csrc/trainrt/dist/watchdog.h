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
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace trainrt::dist {

class Watchdog {
 public:
  using Clock = std::chrono::steady_clock;

  Watchdog(std::chrono::milliseconds deadline, std::function<void(const std::string&)> on_stuck);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Registers a collective being issued; returns the id to clear it with.
  uint64_t track(std::string what);
  // The collective completed (successfully or not). Safe from any thread.
  void done(uint64_t id);

 private:
  void watch();

  std::chrono::milliseconds deadline_;
  std::function<void(const std::string&)> on_stuck_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  bool fired_ = false;
  uint64_t next_id_ = 0;
  std::map<uint64_t, std::pair<std::string, Clock::time_point>> in_flight_;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace trainrt::dist
