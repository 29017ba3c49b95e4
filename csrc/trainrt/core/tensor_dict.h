// defines: TensorDict
//
// Named tensors in a fixed order: a module's parameters and buffers, an optimizer's state. Here,
// below both, so that optim/ produces what ckpt/ writes (ckpt/state_dict.h) without either knowing
// the other.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace trainrt {

using TensorDict = std::vector<std::pair<std::string, torch::Tensor>>;

}  // namespace trainrt
