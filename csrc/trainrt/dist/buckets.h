// defines: BucketLimits, assign_buckets
//
// Which gradients travel together in one all-reduce. A pure function of the parameters' sizes, so
// that every rank computes the same buckets and tests can pin them. As in PyTorch's DDP
// (compute_bucket_assignment_by_size): parameters are taken in reverse registration order, which
// is roughly the order the backward pass produces their gradients; a bucket closes once it holds
// at least its limit; the first bucket has a small limit so that communication starts early.
#pragma once

#include <cstddef>
#include <vector>

namespace trainrt::dist {

struct BucketLimits {
  size_t first_bucket_bytes = size_t{1} << 20;  // 1 MiB, DDP's default
  size_t bucket_bytes = size_t{25} << 20;       // 25 MiB, DDP's default
};

// For parameters of `parameter_bytes` (registration order), the buckets as lists of parameter
// indices, in launch order. Every index appears exactly once.
std::vector<std::vector<size_t>> assign_buckets(const std::vector<size_t>& parameter_bytes,
                                                const BucketLimits& limits = {});

}  // namespace trainrt::dist
