// defines: Clock, seconds_since
//
// The monotonic clock the step timings, evaluation and resume times are measured with.
#pragma once

#include <chrono>

namespace trainrt {

using Clock = std::chrono::steady_clock;

// Seconds from `start` to now.
inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace trainrt
