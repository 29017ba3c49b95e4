// The sampler's pure functions: permutations, shards and remainders.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "trainrt/data/sampler.h"

namespace trainrt::data {
namespace {

TEST(EpochOrder, IsAPermutationFixedBySeedAndEpoch) {
  const auto a = epoch_order(1000, true, 42, 3);
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
  EXPECT_EQ(a, epoch_order(1000, true, 42, 3));
  EXPECT_NE(a, epoch_order(1000, true, 42, 4));
  EXPECT_NE(a, epoch_order(1000, true, 43, 3));
  EXPECT_EQ(epoch_order(5, false, 42, 3), (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST(EpochOrder, ShuffleMovesMostSamples) {
  const auto order = epoch_order(10000, true, 1, 0);
  int64_t in_place = 0;
  for (int64_t i = 0; i < 10000; ++i) in_place += order[i] == i;
  EXPECT_LT(in_place, 20);  // a uniform permutation leaves about 1 fixed point
}

TEST(BatchesPerEpoch, FollowsTheRemainderPolicy) {
  EXPECT_EQ(batches_per_epoch(100, 10, 3, Remainder::kDrop), 3);
  EXPECT_EQ(batches_per_epoch(100, 10, 3, Remainder::kPad), 4);
  EXPECT_EQ(batches_per_epoch(100, 10, 3, Remainder::kPartial), 4);
  EXPECT_EQ(batches_per_epoch(90, 10, 3, Remainder::kDrop), 3);
}

TEST(BatchIndices, ShardsAreDisjointAndCoverTheEpoch) {
  for (int world : {1, 2, 3, 4}) {
    const auto order = epoch_order(240, true, 7, 1);
    std::multiset<int64_t> seen;
    const int64_t batches = batches_per_epoch(240, 10, world, Remainder::kDrop);
    for (int64_t b = 0; b < batches; ++b) {
      for (int rank = 0; rank < world; ++rank) {
        const auto indices = batch_indices(order, b, 10, rank, world, Remainder::kDrop);
        ASSERT_EQ(indices.size(), 10u);
        seen.insert(indices.begin(), indices.end());
      }
    }
    EXPECT_EQ(seen.size(), 240u) << "world " << world;
    EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 240u) << "world " << world;
  }
}

TEST(BatchIndices, RanksTogetherSeeWhatOneProcessWithTheGlobalBatchSees) {
  const auto order = epoch_order(120, true, 3, 0);
  for (int64_t b = 0; b < 4; ++b) {
    const auto global = batch_indices(order, b, 30, 0, 1, Remainder::kDrop);
    std::vector<int64_t> joined;
    for (int rank = 0; rank < 3; ++rank) {
      const auto part = batch_indices(order, b, 10, rank, 3, Remainder::kDrop);
      joined.insert(joined.end(), part.begin(), part.end());
    }
    EXPECT_EQ(joined, global);
  }
}

TEST(BatchIndices, PadWrapsAroundAndPartialStopsShort) {
  const std::vector<int64_t> order{5, 6, 7, 8, 9};
  EXPECT_EQ(batch_indices(order, 1, 2, 0, 2, Remainder::kPad), (std::vector<int64_t>{9, 5}));
  EXPECT_EQ(batch_indices(order, 1, 2, 1, 2, Remainder::kPad), (std::vector<int64_t>{6, 7}));
  EXPECT_EQ(batch_indices(order, 1, 2, 0, 2, Remainder::kPartial), (std::vector<int64_t>{9}));
  EXPECT_TRUE(batch_indices(order, 1, 2, 1, 2, Remainder::kPartial).empty());
}

TEST(Shares, AGlobalBatchThatDoesNotDivideIsSharedByOneRowMoreOrLess) {
  // 15 samples among 2 ranks (a group of 3 x 5 that lost one): 7 and 8, in order, no gap.
  EXPECT_EQ(share_of(15, 0, 2).offset, 0);
  EXPECT_EQ(share_of(15, 0, 2).count, 7);
  EXPECT_EQ(share_of(15, 1, 2).offset, 7);
  EXPECT_EQ(share_of(15, 1, 2).count, 8);
  for (int world = 1; world <= 7; ++world) {
    int64_t next = 0;
    for (int rank = 0; rank < world; ++rank) {
      const Share share = share_of(15, rank, world);
      EXPECT_EQ(share.offset, next);
      EXPECT_GE(share.count, 15 / world);
      EXPECT_LE(share.count, 15 / world + 1);
      next += share.count;
    }
    EXPECT_EQ(next, 15) << world << " ranks";
  }
}

TEST(Shares, TwoRanksTakeTheSamplesThreeTookFromTheSamePosition) {
  const auto order = epoch_order(90, /*shuffle=*/true, 7, 0);
  for (int64_t batch = 0; batch < 3; ++batch) {
    std::vector<int64_t> three, two;
    for (int rank = 0; rank < 3; ++rank) {
      for (auto i : batch_indices(order, batch, 5, rank, 3, Remainder::kDrop, 30)) three.push_back(i);
    }
    for (int rank = 0; rank < 2; ++rank) {
      for (auto i : share_indices(order, batch, 15, share_of(15, rank, 2), Remainder::kDrop, 30)) two.push_back(i);
    }
    EXPECT_EQ(two, three) << "batch " << batch;
  }
}

}  // namespace
}  // namespace trainrt::data
