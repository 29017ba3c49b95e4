// Gradient bucket assignment: reverse order, size limits, a small first bucket.
#include <gtest/gtest.h>

#include <numeric>

#include "trainrt/dist/buckets.h"

namespace trainrt::dist {
namespace {

using Buckets = std::vector<std::vector<size_t>>;

TEST(Buckets, ReverseOrderWithASmallFirstBucket) {
  // Limits of 10 bytes for the first bucket, 25 for the rest.
  const BucketLimits limits{10, 25};
  EXPECT_EQ(assign_buckets({4, 4, 8, 20, 6, 6}, limits),
            (Buckets{{5, 4}, {3, 2}, {1, 0}}));  // 12 >= 10; 28 >= 25; the rest
}

TEST(Buckets, ALargeParameterFillsABucketAlone) {
  EXPECT_EQ(assign_buckets({100, 1, 100}, {10, 25}), (Buckets{{2}, {1, 0}}));
}

TEST(Buckets, EveryParameterExactlyOnceAndDefaultsAreDdps) {
  std::vector<size_t> sizes;
  for (size_t i = 0; i < 200; ++i) sizes.push_back((i * 7919) % 3000000 + 1);
  const Buckets buckets = assign_buckets(sizes);
  std::vector<size_t> seen;
  for (const auto& bucket : buckets) seen.insert(seen.end(), bucket.begin(), bucket.end());
  std::vector<size_t> expected(sizes.size());
  std::iota(expected.rbegin(), expected.rend(), 0);  // 199, 198, ..., 0
  EXPECT_EQ(seen, expected);
  size_t first = 0;
  for (size_t i : buckets.front()) first += sizes[i];
  EXPECT_GE(first, size_t{1} << 20);
  EXPECT_LT(first - sizes[buckets.front().back()], size_t{1} << 20);  // closed as soon as full
  EXPECT_TRUE(assign_buckets({}).empty());
}

}  // namespace
}  // namespace trainrt::dist
