#include "trainrt/data/dataset.h"

#include <fmt/format.h>
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

}  // namespace trainrt::data
