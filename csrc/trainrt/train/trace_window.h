// defines: TraceWindow
//
// Which steps observe.trace_file records: observe.trace_steps steps from observe.trace_first_step,
// [first, end). Spans are on only inside the window; the trace is written once the window's last
// step is done, or at the end of a run that stopped inside it.
#pragma once

#include <cstdint>

#include "trainrt/config/trainrt.pb.h"
#include "trainrt/obs/trace.h"

namespace trainrt::train {

class TraceWindow {
 public:
  explicit TraceWindow(const config::ObserveConfig& observe)
      : on_(!observe.trace_file().empty()), first_(observe.trace_first_step()),
        end_(first_ + observe.trace_steps()) {}

  // Before the step after `done` steps: spans on inside the window.
  void before_step(int64_t done) const {
    if (on_) obs::Trace::global().set_on(done + 1 >= first_ && done + 1 < end_);
  }
  // After `done` steps: whether the window just closed (write the trace now).
  bool closes_after(int64_t done) { return take(on_ && done + 1 == end_); }
  // Starting after `done` steps (resumed, or a replacement's state): a window closed before then
  // was written by the run (or group) that trained it.
  void skip_if_closed(int64_t done) {
    if (on_ && done + 1 >= end_) written_ = true;
  }
  // At the end of the run: whether a window that began was not written yet.
  bool unwritten_at_end(int64_t done) { return take(on_ && done >= first_); }

 private:
  bool take(bool due) {
    if (!due || written_) return false;
    written_ = true;
    return true;
  }
  bool on_;
  int64_t first_;
  int64_t end_;
  bool written_ = false;
};

}  // namespace trainrt::train
