#include "trainrt/optim/optimizer.h"

#include "trainrt/optim/multi_tensor_sgd.h"

namespace trainrt::optim {

namespace {

// One parameter group, or (decay_1d_parameters false, with weight decay) the multi-dimensional
// parameters with decay and the 1-D ones (biases, norm gains) in a second group without.
template <typename Options>
std::vector<torch::optim::OptimizerParamGroup> parameter_groups(const config::OptimizerConfig& config,
                                                                std::vector<torch::Tensor> parameters,
                                                                const Options& options) {
  std::vector<torch::Tensor> decayed, undecayed;
  for (auto& parameter : parameters) {
    const bool decay = config.decay_1d_parameters() || config.weight_decay() == 0 || parameter.dim() >= 2;
    (decay ? decayed : undecayed).push_back(std::move(parameter));
  }
  std::vector<torch::optim::OptimizerParamGroup> groups;
  if (!decayed.empty()) groups.emplace_back(std::move(decayed), std::make_unique<Options>(options));
  if (!undecayed.empty()) {
    auto without_decay = std::make_unique<Options>(options);
    without_decay->weight_decay(0);
    groups.emplace_back(std::move(undecayed), std::move(without_decay));
  }
  return groups;
}

std::unique_ptr<torch::optim::Optimizer> make_sgd(const config::OptimizerConfig& config,
                                                  std::vector<torch::Tensor> parameters) {
  const auto options = torch::optim::SGDOptions(config.lr())
                           .momentum(config.momentum())
                           .nesterov(config.nesterov())
                           .weight_decay(config.weight_decay());
  return std::make_unique<MultiTensorSGD>(parameter_groups(config, std::move(parameters), options), options);
}

std::unique_ptr<torch::optim::Optimizer> make_adamw(const config::OptimizerConfig& config,
                                                    std::vector<torch::Tensor> parameters) {
  const auto options = torch::optim::AdamWOptions(config.lr())
                           .betas({config.beta1(), config.beta2()})
                           .eps(config.eps())
                           .weight_decay(config.weight_decay());
  return std::make_unique<torch::optim::AdamW>(parameter_groups(config, std::move(parameters), options),
                                               options);
}

}  // namespace

OptimizerRegistry& OptimizerRegistry::instance() {
  static OptimizerRegistry registry;
  return registry;
}

// The built-in optimizers: `trainrt train --help` and errors list them from here.
OptimizerRegistry::OptimizerRegistry() {
  factories_.add("sgd", make_sgd);
  factories_.add("adamw", make_adamw);
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const config::OptimizerConfig& config,
                                                        std::vector<torch::Tensor> parameters) {
  return OptimizerRegistry::instance().create(config, std::move(parameters));
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

}  // namespace trainrt::optim
