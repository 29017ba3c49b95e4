#include "trainrt/dist/heartbeat.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "trainrt/dist/membership.h"

namespace trainrt::dist {
namespace {

std::string counter_key(int rank) { return fmt::format("heartbeat/{}", rank); }

}  // namespace

Heartbeat::Heartbeat(c10::intrusive_ptr<c10d::Store> store, int rank, int world_size,
                     std::chrono::milliseconds period)
    : store_(std::move(store)), rank_(rank), world_size_(world_size), period_(period) {
  thread_.start([this] { beat(); });
}

Heartbeat::~Heartbeat() { thread_.stop(); }

void Heartbeat::beat() {
  while (!thread_.stop_requested()) {
    {
      MutexLock lock(mutex_);
      try {
        store_->add(counter_key(rank_), 1);
      } catch (const std::exception&) {
        // The store's host is gone; diagnose() reports that. Keep trying: it may be transient.
      }
    }
    thread_.wait_for(period_);
  }
}

std::vector<int64_t> Heartbeat::counters() {
  MutexLock lock(mutex_);
  std::vector<int64_t> values;
  for (int rank = 0; rank < world_size_; ++rank) values.push_back(store_->add(counter_key(rank), 0));
  return values;
}

std::string Heartbeat::launcher_report() {
  std::vector<int> others;
  for (int rank = 0; rank < world_size_; ++rank) {
    if (rank != rank_) others.push_back(rank);
  }
  MutexLock lock(mutex_);
  return launcher_reports(*store_, others);
}

std::string Heartbeat::diagnose() {
  const auto window = 3 * period_;
  try {
    // A launcher that saw its worker exit says so at once (trainrt launch): a peer's collective
    // usually fails a few milliseconds before the launcher's next look, so wait for that briefly.
    for (int look = 0; look < 10; ++look) {
      if (std::string said = launcher_report(); !said.empty()) return said;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const auto before = counters();
    std::this_thread::sleep_for(window);
    const auto after = counters();
    std::vector<int> silent;
    for (int rank = 0; rank < world_size_; ++rank) {
      if (rank != rank_ && after[rank] == before[rank]) silent.push_back(rank);
    }
    if (silent.empty()) return "";
    return fmt::format("lost rank{} {} (no heartbeat for {:.1f} s)", silent.size() == 1 ? "" : "s",
                       fmt::join(silent, ", "), window.count() / 1000.0);
  } catch (const std::exception&) {
    return "the rendezvous store no longer answers: its host (rank 0, unless a launcher hosts it) "
           "is gone";
  }
}

}  // namespace trainrt::dist
