#include "trainrt/dist/watchdog.h"

#include <algorithm>

#include <fmt/format.h>

namespace trainrt::dist {

Watchdog::Watchdog(std::chrono::milliseconds deadline,
                   std::function<void(const std::string&)> on_stuck)
    : deadline_(deadline), on_stuck_(std::move(on_stuck)) {
  thread_.start([this] { watch(); });
}

Watchdog::~Watchdog() { thread_.stop(); }

uint64_t Watchdog::track(std::string what) {
  MutexLock lock(mutex_);
  in_flight_.emplace(next_id_, std::make_pair(std::move(what), Clock::now()));
  return next_id_++;
}

void Watchdog::done(uint64_t id) {
  MutexLock lock(mutex_);
  in_flight_.erase(id);
}

void Watchdog::watch() {
  // Checks ten times per deadline (at least every 10 ms, at most every second).
  const auto interval = std::clamp(deadline_ / 10, std::chrono::milliseconds(10),
                                   std::chrono::milliseconds(1000));
  while (thread_.wait_for(interval)) {
    const std::string message = overdue();
    if (!message.empty()) on_stuck_(message);
  }
}

std::string Watchdog::overdue() {
  MutexLock lock(mutex_);
  if (fired_ || in_flight_.empty()) return "";
  const auto& [what, issued] = in_flight_.begin()->second;  // ids grow: the oldest first
  const auto age = Clock::now() - issued;
  if (age < deadline_) return "";
  fired_ = true;
  return fmt::format("{} has not completed after {:.1f} s (watchdog deadline {:.1f} s)", what,
                     std::chrono::duration<double>(age).count(), deadline_.count() / 1000.0);
}

}  // namespace trainrt::dist
