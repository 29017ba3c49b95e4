// defines: OptimizerFactory, OptimizerRegistry, make_optimizer, set_learning_rate
//
// The optimizers a config can name (optimizer.name), by name. Built in (registered when the registry
// is first used; optimizer.cpp holds the one list): "sgd" (momentum, Nesterov, L2 weight decay;
// LibTorch's, updated list-wise: optim/multi_tensor_sgd.h) and "adamw" (decoupled weight decay;
// LibTorch's). Their updates match PyTorch's torch.optim step for step. An application may register
// its own; checkpoints save the state of a torch::optim::SGD or AdamW (optim/state.h).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "trainrt/config/trainrt.pb.h"
#include "trainrt/core/named_registry.h"

namespace trainrt::optim {

using OptimizerFactory = std::function<std::unique_ptr<torch::optim::Optimizer>(
    const config::OptimizerConfig& config, std::vector<torch::Tensor> parameters)>;

class OptimizerRegistry {
 public:
  static OptimizerRegistry& instance();

  // Throws trainrt::ConfigError if `name` is taken.
  void add(const std::string& name, OptimizerFactory factory) { factories_.add(name, std::move(factory)); }
  // Builds config.name(); throws trainrt::ConfigError naming the known optimizers if there is no such name.
  std::unique_ptr<torch::optim::Optimizer> create(const config::OptimizerConfig& config,
                                                  std::vector<torch::Tensor> parameters) const {
    return factories_.get(config.name(), "optimizer.name")(config, std::move(parameters));
  }
  std::vector<std::string> names() const { return factories_.names(); }
  // "" when `name` is registered, else the message create() throws.
  std::string problem(const std::string& name) const { return factories_.problem(name, "optimizer.name"); }

 private:
  OptimizerRegistry();
  NamedRegistry<OptimizerFactory> factories_{"optimizer"};
};

// OptimizerRegistry::instance().create(config, parameters).
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const config::OptimizerConfig& config,
                                                        std::vector<torch::Tensor> parameters);

// Sets the learning rate of every parameter group (the schedule calls this each step).
void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);

}  // namespace trainrt::optim
