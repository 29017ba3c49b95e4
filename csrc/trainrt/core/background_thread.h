// defines: BackgroundThread
//
// One thread an object runs beside its caller (a heartbeat, a watchdog, a writer), and the one way
// it ends: stop() asks, wakes the thread wherever it sleeps, and joins. A periodic body sleeps in
// wait_for(), which returns early, false, once a stop is asked:
//   thread_.start([this] {
//     while (!thread_.stop_requested()) { beat(); thread_.wait_for(period_); }
//   });
//   ~Owner() { thread_.stop(); }  // first thing: the body uses the owner's other members
// A body that sleeps on a condition variable of its owner instead (a writer waiting for work)
// checks stop_requested() in that wait's condition and passes `wake` to start(), see there.
#pragma once

#include <chrono>
#include <functional>
#include <thread>
#include <utility>

#include "trainrt/core/mutex.h"
#include "trainrt/core/thread_annotations.h"

namespace trainrt {

class BackgroundThread {
 public:
  BackgroundThread() = default;
  // A safety net only: an owner calls stop() in its own destructor, before the members its body
  // (and `wake`) use are destroyed.
  ~BackgroundThread() { stop(); }
  BackgroundThread(const BackgroundThread&) = delete;
  BackgroundThread& operator=(const BackgroundThread&) = delete;

  // Runs `body` on a new thread (once). `wake` is for a body that sleeps on its owner's condition
  // variable rather than in wait_for(): stop() calls it after asking, and it must lock the mutex
  // that wait uses and notify, e.g. [this] { MutexLock lock(mutex_); changed_.notify_all(); }.
  // Taking the mutex matters: the body checks stop_requested() and then sleeps under that mutex,
  // so a stop asked between the two would otherwise be missed and join() would never return.
  void start(std::function<void()> body, std::function<void()> wake = nullptr) {
    wake_owner_ = std::move(wake);
    thread_ = std::thread(std::move(body));
  }

  // Sleeps for `timeout` or until a stop is asked; true if the thread should go on.
  bool wait_for(std::chrono::steady_clock::duration timeout) EXCLUDES(mutex_) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    MutexLock lock(mutex_);
    while (!stop_ && wake_.wait_until(lock, deadline)) {
    }
    return !stop_;
  }

  // Whether stop() was called. May be called with the owner's mutex held (stop() holds no lock
  // of its own while it calls `wake`).
  bool stop_requested() EXCLUDES(mutex_) {
    MutexLock lock(mutex_);
    return stop_;
  }

  // Asks the body to return, wakes it and waits until it has. Call it from the owner's thread;
  // later calls (and a call before start) do nothing.
  void stop() EXCLUDES(mutex_) {
    if (!thread_.joinable()) return;
    {
      MutexLock lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    if (wake_owner_) wake_owner_();
    thread_.join();
  }

 private:
  Mutex mutex_;
  CondVar wake_;  // wait_for() sleeps on it
  bool stop_ GUARDED_BY(mutex_) = false;
  std::function<void()> wake_owner_;
  std::thread thread_;
};

}  // namespace trainrt
