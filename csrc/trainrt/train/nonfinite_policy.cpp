#include "trainrt/train/nonfinite_policy.h"

#include <cmath>

#include <fmt/format.h>

#include "trainrt/core/error.h"

namespace trainrt::train {

std::optional<std::string> NonfinitePolicy::after_step(int64_t step, bool skipped, double grad_norm) {
  if (!skipped) {
    in_a_row_ = 0;
    return std::nullopt;
  }
  ++skipped_;
  ++in_a_row_;
  return fmt::format("step {}: the gradient norm is {}; the step is skipped "
                     "(train.on_nonfinite: skip; {} in a row)", step, grad_norm, in_a_row_);
}

void NonfinitePolicy::check_consecutive_skips(int64_t step) const {
  if (in_a_row_ < max_consecutive_) return;
  throw Error(Error::Kind::kInternal,
              fmt::format("rank {} step {}: {} steps in a row had non-finite gradients "
                          "(train.max_consecutive_skips); lower optimizer.lr or set "
                          "optimizer.grad_clip_norm", rank_, step, in_a_row_));
}

void NonfinitePolicy::check_loss(double loss, int64_t first, int64_t last) const {
  if (std::isfinite(loss)) return;
  const std::string steps = first == last ? fmt::format("step {}", last)
                                          : fmt::format("steps {}-{}", first, last);
  throw Error(Error::Kind::kInternal,
              fmt::format("rank {} {}: the loss is {}; lower optimizer.lr, set "
                          "optimizer.grad_clip_norm or train.on_nonfinite: skip", rank_, steps, loss));
}

}  // namespace trainrt::train
