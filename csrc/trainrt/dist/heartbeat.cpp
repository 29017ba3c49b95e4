#include "trainrt/dist/heartbeat.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "trainrt/dist/membership.h"

namespace trainrt::dist {
namespace {

std::string counter_key(int rank) { return fmt::format("heartbeat/{}", rank); }

const char* const kStoreLost =
    "the rendezvous store no longer answers: its host (rank 0, unless a launcher hosts it) is gone";

}  // namespace

Heartbeat::Heartbeat(c10::intrusive_ptr<c10d::Store> store, int rank, int world_size,
                     std::chrono::milliseconds period)
    : store_(std::move(store)), rank_(rank), world_size_(world_size), period_(period),
      silence_limit_(std::max(store_->getTimeout(), 3 * period)) {
  thread_.start([this] { run(); },
                [this] {
                  MutexLock lock(mutex_);
                  changed_.notify_all();
                });
}

Heartbeat::~Heartbeat() { thread_.stop(); }

std::string Heartbeat::diagnose() {
  MutexLock lock(mutex_);
  const int request = ++asked_;
  changed_.notify_all();
  while (served_ < request) {
    if (store_silent()) return kStoreLost;
    changed_.wait_until(lock, Clock::now() + std::chrono::milliseconds(10));
  }
  return result_;
}

bool Heartbeat::store_silent() {
  return store_failed_ || (in_flight_since_ && Clock::now() - *in_flight_since_ >= silence_limit_);
}

void Heartbeat::run() {
  do {
    beat();
    int asked = 0;
    {
      MutexLock lock(mutex_);
      asked = asked_;
    }
    if (asked > 0) serve(asked);
  } while (sleep_until(Clock::now() + period_, /*for_requests=*/true));
}

template <typename Call>
auto Heartbeat::ask_store(Call call) {
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

void Heartbeat::beat() {
  try {
    ask_store([this](c10d::Store& store) { return store.add(counter_key(rank_), 1); });
  } catch (const std::exception&) {
    // The store's host is gone; diagnose() reports that. Keep trying: it may be transient.
  }
}

bool Heartbeat::sleep_until(Clock::time_point deadline, bool for_requests) {
  MutexLock lock(mutex_);
  while (!thread_.stop_requested() && !(for_requests && asked_ > served_) &&
         changed_.wait_until(lock, deadline)) {
  }
  return !thread_.stop_requested();
}

void Heartbeat::serve(int request) {
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

std::vector<int64_t> Heartbeat::counters() {
  std::vector<int64_t> values;
  for (int rank = 0; rank < world_size_; ++rank) {
    values.push_back(ask_store([rank](c10d::Store& store) { return store.add(counter_key(rank), 0); }));
  }
  return values;
}

std::string Heartbeat::diagnosis() {
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
