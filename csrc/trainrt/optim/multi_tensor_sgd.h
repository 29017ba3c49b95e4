// defines: MultiTensorSGD
//
// LibTorch's SGD (momentum, dampening, Nesterov, L2 weight decay) with its update done list-wise
// through ATen's _foreach_ operators: on a GPU a handful of multi-tensor kernels per step instead of
// five small ones per parameter (what PyTorch's torch.optim.SGD does by default on CUDA, and what
// made trainrt's ResNet step 6% slower than PyTorch's before). On the CPU the _foreach_ operators
// run the very per-tensor operations torch::optim::SGD runs, so the results are bit for bit the
// same. Its state is torch::optim::SGD's (SGDParamState momentum buffers), so checkpoints and
// optim/state.h treat it as one.
#pragma once

#include <vector>

#include <torch/torch.h>

namespace trainrt::optim {

class MultiTensorSGD : public torch::optim::SGD {
 public:
  MultiTensorSGD(std::vector<torch::Tensor> parameters, torch::optim::SGDOptions options)
      : torch::optim::SGD(std::move(parameters), std::move(options)) {}
  MultiTensorSGD(std::vector<torch::optim::OptimizerParamGroup> groups, torch::optim::SGDOptions defaults)
      : torch::optim::SGD(std::move(groups), std::move(defaults)) {}

  torch::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace trainrt::optim
