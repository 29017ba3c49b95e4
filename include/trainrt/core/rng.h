// defines: Rng, derive_seed
//
// A tiny, fast, platform-independent random generator (SplitMix64) for the decisions that must
// not depend on thread timing or on LibTorch's global generator: the epoch's sample order and each
// sample's augmentation draws, both derived from (seed, epoch, sample index).
#pragma once

#include <cstdint>

namespace trainrt {

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n). The modulo bias is below 2^-40 for the n a data set has; order matters
  // more than perfection here.
  uint64_t below(uint64_t n) { return next() % n; }
  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  bool coin() { return (next() >> 63) != 0; }

 private:
  uint64_t state_;
};

// A seed for one purpose, hashed from a base seed and up to two indices (e.g. epoch, sample): each
// step is one SplitMix64 finalisation, a good 64-bit mixer.
inline uint64_t derive_seed(uint64_t seed, uint64_t a, uint64_t b = 0) {
  const uint64_t h = Rng(Rng(seed).next() ^ a).next();
  return Rng(h ^ b).next();
}

}  // namespace trainrt
