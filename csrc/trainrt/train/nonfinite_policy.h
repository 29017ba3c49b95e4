// defines: NonfinitePolicy
//
// What a non-finite loss or gradient does to a run (train.on_nonfinite): "stop" ends it with an
// error naming the rank and step; "skip" leaves the step's update out (OptimizerStep decides that
// on the all-reduced gradient norm, so every rank skips alike) and goes on, until
// train.max_consecutive_skips steps in a row were skipped.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace trainrt::train {

class NonfinitePolicy {
 public:
  NonfinitePolicy(bool skip, int64_t max_consecutive_skips, int rank)
      : skip_(skip), max_consecutive_(max_consecutive_skips), rank_(rank) {}

  bool skips() const { return skip_; }
  int64_t skipped_steps() const { return skipped_; }
  int64_t consecutive_skips() const { return in_a_row_; }
  // The counts of a run this one continues (a checkpoint's, a replica's).
  void restore(int64_t skipped, int64_t in_a_row) {
    skipped_ = skipped;
    in_a_row_ = in_a_row;
  }

  // After each step: counts a skipped one and returns the line to show.
  std::optional<std::string> after_step(int64_t step, bool skipped, double grad_norm);
  // Throws once train.max_consecutive_skips steps in a row were skipped (after the line is shown).
  void check_consecutive_skips(int64_t step) const;
  // Throws naming the steps [first, last] when a loss read back is not finite.
  void check_loss(double loss, int64_t first, int64_t last) const;

 private:
  bool skip_;
  int64_t max_consecutive_;
  int rank_;
  int64_t skipped_ = 0;
  int64_t in_a_row_ = 0;
};

}  // namespace trainrt::train
