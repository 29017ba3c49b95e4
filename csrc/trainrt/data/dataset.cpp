#include "trainrt/data/dataset.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "trainrt/core/error.h"

namespace trainrt::data {

TensorDataset::TensorDataset(at::Tensor inputs, at::Tensor targets)
    : inputs_(inputs.contiguous()), targets_(targets.to(torch::kInt64).contiguous()),
      size_(inputs.size(0)) {
  if (targets_.dim() != 1 || targets_.size(0) != size_) {
    throw DataError(fmt::format("TensorDataset: {} inputs but targets of shape {}", size_,
                                fmt::format("{}", fmt::join(targets_.sizes(), "x"))));
  }
}

Example TensorDataset::get(int64_t index) const {
  return {inputs_[index], targets_.data_ptr<int64_t>()[index]};
}

ConcatDataset::ConcatDataset(std::vector<std::shared_ptr<const Dataset>> parts)
    : parts_(std::move(parts)), offsets_{0} {
  for (const auto& part : parts_) offsets_.push_back(offsets_.back() + part->size());
}

Example ConcatDataset::get(int64_t index) const {
  // The part whose range holds `index`: the last offset not above it.
  const auto it = std::upper_bound(offsets_.begin(), offsets_.end(), index) - 1;
  const auto part = static_cast<size_t>(it - offsets_.begin());
  return parts_[part]->get(index - *it);
}

}  // namespace trainrt::data
