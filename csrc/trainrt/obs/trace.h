// defines: Trace, TraceSpan
//
// A timeline of what each thread did, for chrome://tracing and Perfetto (Chrome's trace event
// JSON). Code marks its phases with TraceSpan("forward"); while tracing is off (almost always) a
// span costs one relaxed atomic load. Each thread draws on its own lane, named by name_thread()
// ("main", "loader 1", "checkpoint writer"); work that finishes elsewhere (a bucket's all-reduce,
// completed by the backend's thread) is recorded on a named lane of its own. Times are
// steady_clock microseconds, which processes on one node share, so ranks line up.
//
// The trainer turns tracing on for the steps the config names, then collects every rank's spans
// into one file (observe.trace_file).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace trainrt::obs {

class Trace {
 public:
  // The process's trace.
  static Trace& global();

  bool on() const { return on_.load(std::memory_order_relaxed); }
  void set_on(bool on) { on_.store(on, std::memory_order_relaxed); }

  // steady_clock now, in microseconds.
  static int64_t now_us();
  // Names the calling thread's lane.
  static void name_thread(const std::string& name);

  // A span on the calling thread's lane.
  void span(const std::string& name, int64_t begin_us, int64_t end_us);
  // A span on the lane called `lane` (created on first use).
  void span_on(const std::string& lane, const std::string& name, int64_t begin_us, int64_t end_us);

  // The spans recorded so far, as the elements of a Chrome trace's "traceEvents" array for process
  // `pid` (with its and its lanes' names), comma-separated; clears them.
  std::string take_events_json(int pid, const std::string& process_name);

 private:
  struct Span {
    std::string name;
    int lane;
    int64_t begin_us, end_us;
  };
  int lane_of_this_thread();

  std::atomic<bool> on_{false};
  std::mutex mutex_;
  std::vector<Span> spans_;                 // guarded by mutex_
  std::vector<std::string> lane_names_;     // lane id -> name, guarded by mutex_
};

// Records [construction, destruction) as a span on this thread's lane, if tracing is on at
// construction.
class TraceSpan {
 public:
  explicit TraceSpan(const char* name)
      : name_(name), begin_us_(Trace::global().on() ? Trace::now_us() : -1) {}
  ~TraceSpan() {
    if (begin_us_ >= 0) Trace::global().span(name_, begin_us_, Trace::now_us());
  }
  TraceSpan(const TraceSpan&) = delete;
  TraceSpan& operator=(const TraceSpan&) = delete;

 private:
  const char* name_;
  int64_t begin_us_;
};

}  // namespace trainrt::obs
