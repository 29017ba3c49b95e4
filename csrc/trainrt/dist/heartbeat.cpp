#include "trainrt/dist/heartbeat.h"

#include <algorithm>
#include <optional>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "trainrt/core/mutex.h"
#include "trainrt/core/thread_annotations.h"
#include "trainrt/dist/membership.h"

namespace trainrt::dist {
namespace {

std::string counter_key(int rank) { return fmt::format("heartbeat/{}", rank); }

const char* const kStoreLost =
    "the rendezvous store no longer answers: its host (rank 0, unless a launcher hosts it) is gone";

}  // namespace

// Everything the heartbeat's thread uses, shared by the thread and the Heartbeat (see ~Heartbeat).
class Heartbeat::Beat {
 public:
  Beat(c10::intrusive_ptr<c10d::Store> store, int rank, int world_size, std::chrono::milliseconds period)
      : store_(std::move(store)), rank_(rank), world_size_(world_size), period_(period),
        silence_limit_(std::max(store_->getTimeout(), 3 * period)) {}

  std::string diagnose() EXCLUDES(mutex_);
  void run() EXCLUDES(mutex_);  // the thread's body
  // Asks the thread to stop; waits up to `limit` for it; whether it finished.
  bool stop(std::chrono::milliseconds limit) EXCLUDES(mutex_);
  std::chrono::milliseconds period() const { return period_; }

 private:
  using Clock = std::chrono::steady_clock;
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
  bool stop_ GUARDED_BY(mutex_) = false;
  bool finished_ GUARDED_BY(mutex_) = false;
  int asked_ GUARDED_BY(mutex_) = 0;   // diagnoses asked for, numbered from 1
  int served_ GUARDED_BY(mutex_) = 0;  // the newest one the thread has answered
  std::string result_ GUARDED_BY(mutex_);
  std::optional<Clock::time_point> in_flight_since_ GUARDED_BY(mutex_);
  bool store_failed_ GUARDED_BY(mutex_) = false;  // its last call threw
};

Heartbeat::Heartbeat(c10::intrusive_ptr<c10d::Store> store, int rank, int world_size,
                     std::chrono::milliseconds period)
    : beat_(std::make_shared<Beat>(std::move(store), rank, world_size, period)) {
  thread_ = std::thread([beat = beat_] { beat->run(); });
}

Heartbeat::~Heartbeat() {
  // A beat or a diagnosis takes a few store round trips when the store answers.
  if (beat_->stop(3 * beat_->period() + std::chrono::milliseconds(500))) {
    thread_.join();
  } else {
    thread_.detach();  // it holds `beat_`; it ends when its call returns, or with the process
  }
}

std::string Heartbeat::diagnose() { return beat_->diagnose(); }

bool Heartbeat::Beat::stop(std::chrono::milliseconds limit) {
  MutexLock lock(mutex_);
  stop_ = true;
  changed_.notify_all();
  const auto deadline = Clock::now() + limit;
  while (!finished_ && changed_.wait_until(lock, deadline)) {
  }
  return finished_;
}

std::string Heartbeat::Beat::diagnose() {
  MutexLock lock(mutex_);
  const int request = ++asked_;
  changed_.notify_all();
  while (served_ < request) {
    if (store_silent()) return kStoreLost;
    changed_.wait_until(lock, Clock::now() + std::chrono::milliseconds(10));
  }
  return result_;
}

bool Heartbeat::Beat::store_silent() {
  return store_failed_ || (in_flight_since_ && Clock::now() - *in_flight_since_ >= silence_limit_);
}

void Heartbeat::Beat::run() {
  do {
    beat();
    int asked = 0;
    {
      MutexLock lock(mutex_);
      asked = asked_;
    }
    if (asked > 0) serve(asked);
  } while (sleep_until(Clock::now() + period_, /*for_requests=*/true));
  MutexLock lock(mutex_);
  finished_ = true;
  changed_.notify_all();
}

template <typename Call>
auto Heartbeat::Beat::ask_store(Call call) {
  {
    MutexLock lock(mutex_);
    in_flight_since_ = Clock::now();
  }
  try {
    auto answer = call(*store_);
    MutexLock lock(mutex_);
    in_flight_since_.reset();
    store_failed_ = false;
    return answer;
  } catch (...) {
    MutexLock lock(mutex_);
    in_flight_since_.reset();
    store_failed_ = true;
    changed_.notify_all();
    throw;
  }
}

void Heartbeat::Beat::beat() {
  try {
    ask_store([this](c10d::Store& store) { return store.add(counter_key(rank_), 1); });
  } catch (const std::exception&) {
    // The store's host is gone; diagnose() reports that. Keep trying: it may be transient.
  }
}

bool Heartbeat::Beat::sleep_until(Clock::time_point deadline, bool for_requests) {
  MutexLock lock(mutex_);
  while (!stop_ && !(for_requests && asked_ > served_) && changed_.wait_until(lock, deadline)) {
  }
  return !stop_;
}

void Heartbeat::Beat::serve(int request) {
  {
    MutexLock lock(mutex_);
    if (served_ >= request) return;
  }
  std::string result;
  try {
    result = diagnosis();
  } catch (const std::exception&) {
    result = kStoreLost;
  }
  MutexLock lock(mutex_);
  served_ = request;
  result_ = result;
  changed_.notify_all();
}

std::vector<int64_t> Heartbeat::Beat::counters() {
  std::vector<int64_t> values;
  for (int rank = 0; rank < world_size_; ++rank) {
    values.push_back(ask_store([rank](c10d::Store& store) { return store.add(counter_key(rank), 0); }));
  }
  return values;
}

std::string Heartbeat::Beat::diagnosis() {
  std::vector<int> others;
  for (int rank = 0; rank < world_size_; ++rank) {
    if (rank != rank_) others.push_back(rank);
  }
  // A launcher that saw its worker exit says so at once (trainrt launch): a peer's collective
  // usually fails a few milliseconds before the launcher's next look, so look again briefly.
  for (int look = 0; look < 10; ++look) {
    const std::string said = ask_store([&](c10d::Store& store) { return launcher_reports(store, others); });
    if (!said.empty()) return said;
    if (!sleep_until(Clock::now() + std::chrono::milliseconds(10), false)) return "";
  }
  // Then the counters, over a window in which this rank keeps beating.
  const auto window = 3 * period_;
  const auto before = counters();
  for (const auto end = Clock::now() + window; Clock::now() < end;) {
    if (!sleep_until(std::min(end, Clock::now() + period_), false)) return "";
    beat();
  }
  const auto after = counters();
  std::vector<int> silent;
  for (int rank : others) {
    if (after[rank] == before[rank]) silent.push_back(rank);
  }
  if (silent.empty()) return "";
  return fmt::format("lost rank{} {} (no heartbeat for {:.1f} s)", silent.size() == 1 ? "" : "s",
                     fmt::join(silent, ", "), window.count() / 1000.0);
}

}  // namespace trainrt::dist
