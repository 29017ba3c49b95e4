#include "trainrt/optim/optimizer.h"

#include <fmt/format.h>

#include "trainrt/core/error.h"
#include "trainrt/optim/multi_tensor_sgd.h"

namespace trainrt::optim {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const config::OptimizerConfig& config,
                                                        std::vector<torch::Tensor> parameters) {
  if (config.name() == "sgd") {
    return std::make_unique<MultiTensorSGD>(
        std::move(parameters), torch::optim::SGDOptions(config.lr())
                                   .momentum(config.momentum())
                                   .nesterov(config.nesterov())
                                   .weight_decay(config.weight_decay()));
  }
  if (config.name() == "adamw") {
    return std::make_unique<torch::optim::AdamW>(
        std::move(parameters), torch::optim::AdamWOptions(config.lr())
                                   .betas({config.beta1(), config.beta2()})
                                   .eps(config.eps())
                                   .weight_decay(config.weight_decay()));
  }
  throw ConfigError(fmt::format("optimizer.name: unknown optimizer '{}' (known: sgd, adamw)",
                                config.name()));
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

}  // namespace trainrt::optim
