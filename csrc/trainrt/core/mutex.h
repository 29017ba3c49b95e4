// defines: Mutex, MutexLock, CondVar
//
// std::mutex, std::unique_lock and std::condition_variable with the annotations Clang's
// thread-safety analysis follows (core/thread_annotations.h; libstdc++'s own carry none):
//   Mutex mutex_;
//   CondVar changed_;
//   bool busy_ GUARDED_BY(mutex_) = false;
//   ...
//   MutexLock lock(mutex_);
//   while (busy_) changed_.wait(lock);  // an explicit loop: the analysis cannot see into a
//                                       // predicate lambda, which runs as a function of its own
// MutexLock may let go for a while (lock.unlock(); slow work; lock.lock();) and the analysis then
// flags any guarded member touched in between.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "trainrt/core/thread_annotations.h"

namespace trainrt {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

 private:
  friend class MutexLock;
  std::mutex mutex_;
};

// Holds a Mutex from construction to destruction, except between unlock() and lock().
class SCOPED_CAPABILITY MutexLock {
 public:
  // The bodies use std::unique_lock, which the analysis cannot see; the annotations state what
  // they do.
  explicit MutexLock(Mutex& mutex) ACQUIRE(mutex) NO_THREAD_SAFETY_ANALYSIS : lock_(mutex.mutex_) {}
  ~MutexLock() RELEASE() NO_THREAD_SAFETY_ANALYSIS {}
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void unlock() RELEASE() NO_THREAD_SAFETY_ANALYSIS { lock_.unlock(); }
  void lock() ACQUIRE() NO_THREAD_SAFETY_ANALYSIS { lock_.lock(); }

 private:
  friend class CondVar;
  std::unique_lock<std::mutex> lock_;
};

// A condition variable waited on with a MutexLock held. Waits may wake spuriously: loop on the
// condition. To the analysis the mutex is held throughout (it is, whenever the caller runs).
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  void wait(MutexLock& lock) { cv_.wait(lock.lock_); }
  // False once `deadline` has passed.
  bool wait_until(MutexLock& lock, std::chrono::steady_clock::time_point deadline) {
    return cv_.wait_until(lock.lock_, deadline) == std::cv_status::no_timeout;
  }
  void notify_one() { cv_.notify_one(); }
  void notify_all() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace trainrt
