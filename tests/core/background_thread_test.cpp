// The shared shutdown of background threads: stop() wakes a body wherever it sleeps (in wait_for or
// on its owner's condition variable) and joins it, promptly, not after the sleep it interrupted.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <deque>

#include "trainrt/core/background_thread.h"
#include "trainrt/core/mutex.h"

namespace trainrt {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(BackgroundThread, StopInterruptsAPeriodicBodysSleepAndJoins) {
  std::atomic<int> beats{0};
  std::atomic<bool> returned{false};
  BackgroundThread thread;
  thread.start([&] {
    while (!thread.stop_requested()) {
      ++beats;
      thread.wait_for(10s);  // only a stop ends this sleep within the test
    }
    returned = true;
  });
  while (beats == 0) std::this_thread::sleep_for(1ms);
  const auto asked = Clock::now();
  thread.stop();
  EXPECT_LT(Clock::now() - asked, 5s);
  EXPECT_TRUE(returned);  // stop() returned after the body did
  EXPECT_EQ(beats, 1);
  thread.stop();  // a second stop does nothing
}

TEST(BackgroundThread, WaitForSleepsItsPeriodAndSaysToGoOn) {
  std::atomic<int> periods{0};
  BackgroundThread thread;
  thread.start([&] {
    while (thread.wait_for(5ms)) ++periods;
  });
  const auto deadline = Clock::now() + 10s;
  while (periods < 3 && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
  thread.stop();
  EXPECT_GE(periods, 3);
}

// A writer that sleeps on its own condition variable until there is work or a stop is asked, and
// writes what is queued before it returns (as obs::EventWriter does).
class QueueWriter {
 public:
  QueueWriter() {
    thread_.start([this] { run(); }, [this] {
      MutexLock lock(mutex_);
      changed_.notify_all();
    });
  }
  ~QueueWriter() { thread_.stop(); }

  void add(int value) EXCLUDES(mutex_) {
    {
      MutexLock lock(mutex_);
      queue_.push_back(value);
    }
    changed_.notify_all();
  }
  void stop() { thread_.stop(); }
  int written() EXCLUDES(mutex_) {
    MutexLock lock(mutex_);
    return written_;
  }

 private:
  void run() EXCLUDES(mutex_) {
    MutexLock lock(mutex_);
    while (true) {
      while (!thread_.stop_requested() && queue_.empty()) changed_.wait(lock);
      if (queue_.empty()) return;
      queue_.pop_front();
      ++written_;
    }
  }

  Mutex mutex_;
  CondVar changed_;
  std::deque<int> queue_ GUARDED_BY(mutex_);
  int written_ GUARDED_BY(mutex_) = 0;
  BackgroundThread thread_;
};

TEST(BackgroundThread, StopWakesABodyWaitingOnItsOwnersConditionAfterItDrainsTheQueue) {
  for (int round = 0; round < 50; ++round) {  // a stop racing the body's check of the condition
    QueueWriter writer;
    for (int i = 0; i < round % 4; ++i) writer.add(i);
    writer.stop();
    EXPECT_EQ(writer.written(), round % 4) << "round " << round;
  }
}

TEST(BackgroundThread, StopBeforeStartAndDestructionWithoutStopAreHarmless) {
  BackgroundThread never_started;
  never_started.stop();
  std::atomic<bool> ran{false};
  {
    BackgroundThread thread;
    thread.start([&] {
      while (thread.wait_for(1h)) {
      }
      ran = true;
    });
  }  // the destructor stops and joins
  EXPECT_TRUE(ran);
}

}  // namespace
}  // namespace trainrt
