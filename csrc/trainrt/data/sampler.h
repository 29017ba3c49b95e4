// defines: Remainder, Share, share_of, epoch_order, batches_per_epoch, batch_indices
//
// Which samples make up batch b of rank r in epoch e, as pure functions so that tests can pin them
// without threads. The epoch's order is a permutation of [0, n) drawn from (seed, epoch). Counting
// from global sample position `start` (0 for a fresh epoch), global batch b is
// order[start + b*W*B, start + (b+1)*W*B) for W ranks of per-rank batch B, and rank r takes slice r
// of it: N ranks with batch B see exactly the samples one process with batch N*B sees, and a
// position counted in global samples means the same thing under any world size (which is how a
// run resumes on a different number of processes). A global batch that does not divide among the
// ranks (a group that lost a rank and kept its global batch) is shared unequally: rank r takes
// rows [floor(r*G/W), floor((r+1)*G/W)) of each global batch of G (share_of).
#pragma once

#include <cstdint>
#include <vector>

namespace trainrt::data {

// What to do with the samples left over when n is not a multiple of the global batch.
enum class Remainder {
  kDrop,     // leave them out: every batch is full (training)
  kPad,      // fill the last global batch by wrapping round to the start of the order
  kPartial,  // a short last batch; ranks past the end get empty batches (evaluation)
};

// The rows of each global batch of `global_batch` that `rank` of `world_size` takes.
struct Share {
  int64_t offset = 0;
  int64_t count = 0;
};
Share share_of(int64_t global_batch, int rank, int world_size);

// A permutation of [0, n) drawn from (seed, epoch), or 0..n-1 in order when !shuffle.
std::vector<int64_t> epoch_order(int64_t n, bool shuffle, uint64_t seed, int64_t epoch);

// Global batches in an epoch from position `start` on (the same for every rank).
int64_t batches_per_epoch(int64_t n, int64_t batch_size, int world_size, Remainder remainder,
                          int64_t start = 0);

// Sample indices of batch `batch` (counted from position `start`) for `rank`.
std::vector<int64_t> batch_indices(const std::vector<int64_t>& order, int64_t batch,
                                   int64_t batch_size, int rank, int world_size,
                                   Remainder remainder, int64_t start = 0);

// The same for a share of global batches of `global_batch` samples.
std::vector<int64_t> share_indices(const std::vector<int64_t>& order, int64_t batch,
                                   int64_t global_batch, Share share, Remainder remainder,
                                   int64_t start = 0);

}  // namespace trainrt::data
