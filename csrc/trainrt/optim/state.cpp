#include "trainrt/optim/state.h"

#include <set>

#include <fmt/format.h>

#include "trainrt/core/error.h"
#include "trainrt/optim/state_key.h"

namespace trainrt::optim {
namespace {

// Every group's parameters, the groups in order.
std::vector<torch::Tensor> parameters_of(const torch::optim::Optimizer& optimizer,
                                         const std::vector<std::string>& names) {
  std::vector<torch::Tensor> parameters;
  for (const auto& group : optimizer.param_groups()) {
    parameters.insert(parameters.end(), group.params().begin(), group.params().end());
  }
  if (parameters.size() != names.size()) {
    throw Error(Error::Kind::kInternal,
                fmt::format("optimizer state: {} names for {} parameters", names.size(), parameters.size()));
  }
  return parameters;
}

}  // namespace

TensorDict optimizer_state(const torch::optim::Optimizer& optimizer,
                           const std::vector<std::string>& parameter_names, bool copy) {
  const auto parameters = parameters_of(optimizer, parameter_names);
  auto cpu_copy = [copy](const torch::Tensor& tensor) {
    return copy ? tensor.detach().to(torch::kCPU, /*non_blocking=*/false, /*copy=*/true) : tensor.detach();
  };
  TensorDict out;
  for (size_t i = 0; i < parameters.size(); ++i) {
    auto found = optimizer.state().find(state_key(parameters[i]));
    if (found == optimizer.state().end()) continue;
    const std::string& name = parameter_names[i];
    if (const auto* sgd = dynamic_cast<const torch::optim::SGDParamState*>(found->second.get())) {
      if (sgd->momentum_buffer().defined()) {
        out.emplace_back(name + ".momentum_buffer", cpu_copy(sgd->momentum_buffer()));
      }
    } else if (const auto* adamw = dynamic_cast<const torch::optim::AdamWParamState*>(found->second.get())) {
      out.emplace_back(name + ".step", torch::tensor(adamw->step(), torch::kInt64));
      out.emplace_back(name + ".exp_avg", cpu_copy(adamw->exp_avg()));
      out.emplace_back(name + ".exp_avg_sq", cpu_copy(adamw->exp_avg_sq()));
      if (adamw->max_exp_avg_sq().defined()) {
        out.emplace_back(name + ".max_exp_avg_sq", cpu_copy(adamw->max_exp_avg_sq()));
      }
    } else {
      throw Error(Error::Kind::kInternal, "optimizer state: an optimizer other than SGD or AdamW");
    }
  }
  return out;
}

void load_optimizer_state(torch::optim::Optimizer& optimizer,
                          const std::vector<std::string>& parameter_names,
                          const std::map<std::string, torch::Tensor>& state, const std::string& source,
                          bool copy) {
  const auto parameters = parameters_of(optimizer, parameter_names);
  const bool is_sgd = dynamic_cast<const torch::optim::SGD*>(&optimizer) != nullptr;
  const bool is_adamw = dynamic_cast<const torch::optim::AdamW*>(&optimizer) != nullptr;
  if (!is_sgd && !is_adamw) throw Error(Error::Kind::kInternal, "optimizer state: not SGD or AdamW");
  std::set<std::string> used;
  // The slot `name.slot` as a tensor like `parameter`, or undefined if absent.
  auto slot = [&](const std::string& name, const char* slot_name,
                  const torch::Tensor& like) -> torch::Tensor {
    const std::string key = name + "." + slot_name;
    auto found = state.find(key);
    if (found == state.end()) return {};
    used.insert(key);
    if (like.defined() && found->second.sizes() != like.sizes()) {
      throw DataError(fmt::format("{}: '{}' has shape {}, the parameter's is {}", source, key,
                                  c10::str(found->second.sizes()), c10::str(like.sizes())));
    }
    return like.defined() ? found->second.to(like.options(), /*non_blocking=*/false, copy)
                          : found->second;
  };

  optimizer.state().clear();
  for (size_t i = 0; i < parameters.size(); ++i) {
    const auto& parameter = parameters[i];
    const std::string& name = parameter_names[i];
    if (is_sgd) {
      torch::Tensor momentum = slot(name, "momentum_buffer", parameter);
      if (!momentum.defined()) continue;
      auto param_state = std::make_unique<torch::optim::SGDParamState>();
      param_state->momentum_buffer(momentum);
      optimizer.state()[state_key(parameter)] = std::move(param_state);
    } else {
      torch::Tensor step = slot(name, "step", {});
      if (!step.defined()) continue;
      torch::Tensor exp_avg = slot(name, "exp_avg", parameter);
      torch::Tensor exp_avg_sq = slot(name, "exp_avg_sq", parameter);
      if (!exp_avg.defined() || !exp_avg_sq.defined()) {
        throw DataError(fmt::format("{}: '{}' has a step but not exp_avg and exp_avg_sq", source, name));
      }
      auto param_state = std::make_unique<torch::optim::AdamWParamState>();
      param_state->step(step.item<int64_t>());
      param_state->exp_avg(exp_avg);
      param_state->exp_avg_sq(exp_avg_sq);
      param_state->max_exp_avg_sq(slot(name, "max_exp_avg_sq", parameter));
      optimizer.state()[state_key(parameter)] = std::move(param_state);
    }
  }
  for (const auto& [key, tensor] : state) {
    if (!used.count(key)) {
      throw DataError(fmt::format("{}: '{}' is not state of this {} optimizer's parameters", source,
                                  key, is_sgd ? "sgd" : "adamw"));
    }
  }
}

std::vector<std::string> optimizer_parameter_names(const torch::optim::Optimizer& optimizer,
                                                   const torch::nn::Module& module) {
  std::map<const void*, std::string> by_tensor;
  for (const auto& item : module.named_parameters()) by_tensor[item.value().unsafeGetTensorImpl()] = item.key();
  std::vector<std::string> names;
  for (const auto& group : optimizer.param_groups()) {
    for (const auto& parameter : group.params()) {
      auto found = by_tensor.find(parameter.unsafeGetTensorImpl());
      if (found == by_tensor.end()) {
        throw Error(Error::Kind::kInternal, "optimizer state: a parameter that is not the model's");
      }
      names.push_back(found->second);
    }
  }
  return names;
}

}  // namespace trainrt::optim
