#include "trainrt/optim/multi_tensor_sgd.h"

#include "trainrt/optim/state_key.h"

namespace trainrt::optim {

torch::Tensor MultiTensorSGD::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups_) {
    const auto& options = static_cast<const torch::optim::SGDOptions&>(group.options());
    std::vector<torch::Tensor> parameters;
    std::vector<torch::Tensor> steps;  // d_p of torch::optim::SGD::step
    for (const auto& parameter : group.params()) {
      if (!parameter.grad().defined()) continue;
      parameters.push_back(parameter);
      steps.push_back(parameter.grad());
    }
    if (parameters.empty()) continue;
    if (options.weight_decay() != 0) steps = at::_foreach_add(steps, parameters, options.weight_decay());
    if (options.momentum() != 0) {
      // A parameter's first step starts its buffer as a copy of its step; the others decay theirs.
      std::vector<torch::Tensor> buffers;
      std::vector<torch::Tensor> decaying, decaying_steps;
      for (size_t i = 0; i < parameters.size(); ++i) {
        auto found = state_.find(state_key(parameters[i]));
        if (found == state_.end()) {
          auto state = std::make_unique<torch::optim::SGDParamState>();
          state->momentum_buffer(steps[i].clone().detach());
          buffers.push_back(state->momentum_buffer());
          state_[state_key(parameters[i])] = std::move(state);
        } else {
          buffers.push_back(static_cast<torch::optim::SGDParamState&>(*found->second).momentum_buffer());
          decaying.push_back(buffers.back());
          decaying_steps.push_back(steps[i]);
        }
      }
      if (!decaying.empty()) {
        at::_foreach_mul_(decaying, options.momentum());
        at::_foreach_add_(decaying, decaying_steps, 1 - options.dampening());
      }
      steps = options.nesterov() ? at::_foreach_add(steps, buffers, options.momentum()) : buffers;
    }
    at::_foreach_add_(parameters, steps, -options.lr());
  }
  return loss;
}

}  // namespace trainrt::optim
