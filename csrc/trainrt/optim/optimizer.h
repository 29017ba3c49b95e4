// defines: make_optimizer, set_learning_rate
//
// The optimizers a config can name: SGD (momentum, Nesterov, L2 weight decay; LibTorch's, updated
// list-wise: optim/multi_tensor_sgd.h) and AdamW (decoupled weight decay; LibTorch's). Their updates
// match PyTorch's torch.optim step for step.
#pragma once

#include <memory>
#include <vector>

#include <torch/torch.h>

#include "trainrt/config/trainrt.pb.h"

namespace trainrt::optim {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const config::OptimizerConfig& config,
                                                        std::vector<torch::Tensor> parameters);

// Sets the learning rate of every parameter group (the schedule calls this each step).
void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);

}  // namespace trainrt::optim
