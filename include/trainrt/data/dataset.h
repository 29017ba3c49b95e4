// defines: Example, Dataset, TensorDataset, HeadDataset, ConcatDataset
//
// A data set is two methods: how many samples, and one sample by index. Shuffling, sharding,
// augmenting, batching and prefetching are done around it by the sampler, the collator and the
// loader. `get` is called from several loader threads at once and must be thread-safe.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

namespace trainrt::data {

struct Example {
  at::Tensor input;    // e.g. uint8 [C, H, W] for images
  int64_t target = 0;  // class index
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual Example get(int64_t index) const = 0;
};

// Samples held in memory: inputs [N, ...] and int64 targets [N].
class TensorDataset : public Dataset {
 public:
  TensorDataset(at::Tensor inputs, at::Tensor targets);
  int64_t size() const override { return size_; }
  Example get(int64_t index) const override;
  const at::Tensor& inputs() const { return inputs_; }
  const at::Tensor& targets() const { return targets_; }

 private:
  at::Tensor inputs_;
  at::Tensor targets_;
  int64_t size_;
};

// The first `count` samples of another data set (all of them if it has fewer).
class HeadDataset : public Dataset {
 public:
  HeadDataset(std::shared_ptr<const Dataset> base, int64_t count)
      : base_(std::move(base)), size_(std::min(count, base_->size())) {}
  int64_t size() const override { return size_; }
  Example get(int64_t index) const override { return base_->get(index); }

 private:
  std::shared_ptr<const Dataset> base_;
  int64_t size_;
};

// Several data sets one after the other (e.g. CIFAR-10's five training files).
class ConcatDataset : public Dataset {
 public:
  explicit ConcatDataset(std::vector<std::shared_ptr<const Dataset>> parts);
  int64_t size() const override { return offsets_.back(); }
  Example get(int64_t index) const override;

 private:
  std::vector<std::shared_ptr<const Dataset>> parts_;
  std::vector<int64_t> offsets_;  // offsets_[i]: first index of parts_[i]; last: the total
};

}  // namespace trainrt::data
