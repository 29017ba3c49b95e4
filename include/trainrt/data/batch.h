// defines: Batch, Collator
//
// A collator turns samples into one batch buffer, row by row, then finishes the batch (e.g. the
// uint8-to-float normalisation in one pass). Buffers are allocated once and recycled by the loader.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

#include "trainrt/data/dataset.h"

namespace trainrt::data {

struct Batch {
  at::Tensor input;   // [rows, ...], ready for the model
  at::Tensor target;  // int64 [rows]
  int64_t rows = 0;
  int64_t epoch = 0;
  int64_t index = 0;  // batch index within the epoch
  // The collator's scratch space (e.g. uint8 pixels before normalisation); not for the trainer.
  at::Tensor staging;
};

class Collator {
 public:
  virtual ~Collator() = default;
  // A buffer with room for `capacity` samples.
  virtual Batch allocate(int64_t capacity) const = 0;
  // Writes `example` into row `row`; `sample_seed` drives any random augmentation of this sample.
  // `sample_index` names the sample in error messages.
  virtual void put(Batch& batch, int64_t row, const Example& example, uint64_t sample_seed,
                   int64_t sample_index) const = 0;
  // Completes the first `rows` rows (the loader then hands out views of exactly that many).
  virtual void finish(Batch& batch, int64_t rows) const = 0;
};

}  // namespace trainrt::data
