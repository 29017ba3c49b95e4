#include "trainrt/dist/watchdog.h"

#include <algorithm>

#include <fmt/format.h>

namespace trainrt::dist {

Watchdog::Watchdog(std::chrono::milliseconds deadline,
                   std::function<void(const std::string&)> on_stuck)
    : deadline_(deadline), on_stuck_(std::move(on_stuck)) {
  thread_ = std::thread([this] { watch(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

uint64_t Watchdog::track(std::string what) {
  std::lock_guard<std::mutex> lock(mutex_);
  in_flight_.emplace(next_id_, std::make_pair(std::move(what), Clock::now()));
  return next_id_++;
}

void Watchdog::done(uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  in_flight_.erase(id);
}

void Watchdog::watch() {
  // Checks ten times per deadline (at least every 10 ms, at most every second).
  const auto interval = std::clamp(deadline_ / 10, std::chrono::milliseconds(10),
                                   std::chrono::milliseconds(1000));
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_) {
    wake_.wait_for(lock, interval, [this] { return stop_; });
    if (stop_ || fired_ || in_flight_.empty()) continue;
    const auto& [what, issued] = in_flight_.begin()->second;  // ids grow: the oldest first
    const auto age = Clock::now() - issued;
    if (age < deadline_) continue;
    fired_ = true;
    const std::string message = fmt::format(
        "{} has not completed after {:.1f} s (watchdog deadline {:.1f} s)", what,
        std::chrono::duration<double>(age).count(), deadline_.count() / 1000.0);
    lock.unlock();
    on_stuck_(message);
    lock.lock();
  }
}

}  // namespace trainrt::dist
