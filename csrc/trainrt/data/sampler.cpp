#include "trainrt/data/sampler.h"

#include <algorithm>
#include <numeric>

#include "trainrt/core/rng.h"

namespace trainrt::data {

std::vector<int64_t> epoch_order(int64_t n, bool shuffle, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  if (!shuffle) return order;
  Rng rng(derive_seed(seed, static_cast<uint64_t>(epoch), 0x5eed));
  for (int64_t i = n - 1; i > 0; --i) {  // Fisher-Yates
    std::swap(order[i], order[rng.below(static_cast<uint64_t>(i + 1))]);
  }
  return order;
}

int64_t batches_per_epoch(int64_t n, int64_t batch_size, int world_size, Remainder remainder,
                          int64_t start) {
  const int64_t global = batch_size * world_size;
  const int64_t left = std::max<int64_t>(0, n - start);
  return remainder == Remainder::kDrop ? left / global : (left + global - 1) / global;
}

Share share_of(int64_t global_batch, int rank, int world_size) {
  const int64_t begin = global_batch * rank / world_size;
  const int64_t end = global_batch * (rank + 1) / world_size;
  return {begin, end - begin};
}

std::vector<int64_t> batch_indices(const std::vector<int64_t>& order, int64_t batch,
                                   int64_t batch_size, int rank, int world_size,
                                   Remainder remainder, int64_t start) {
  return share_indices(order, batch, batch_size * world_size, {rank * batch_size, batch_size},
                       remainder, start);
}

std::vector<int64_t> share_indices(const std::vector<int64_t>& order, int64_t batch,
                                   int64_t global_batch, Share share, Remainder remainder,
                                   int64_t start) {
  const auto n = static_cast<int64_t>(order.size());
  const int64_t begin = start + batch * global_batch + share.offset;
  std::vector<int64_t> indices;
  indices.reserve(static_cast<size_t>(share.count));
  for (int64_t i = begin; i < begin + share.count; ++i) {
    if (i < n) {
      indices.push_back(order[i]);
    } else if (remainder == Remainder::kPad && n > 0) {
      indices.push_back(order[i % n]);
    } else {
      break;
    }
  }
  return indices;
}

}  // namespace trainrt::data
