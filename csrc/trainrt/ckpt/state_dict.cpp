#include "trainrt/ckpt/state_dict.h"

#include <fmt/format.h>

#include "trainrt/core/error.h"

namespace trainrt::ckpt {
namespace {

std::map<std::string, torch::Tensor> named_state(const torch::nn::Module& module) {
  std::map<std::string, torch::Tensor> state;
  for (const auto& item : module.named_parameters()) state[item.key()] = item.value();
  for (const auto& item : module.named_buffers()) state[item.key()] = item.value();
  return state;
}

}  // namespace

TensorDict module_state(const torch::nn::Module& module) {
  TensorDict state;
  for (const auto& [name, tensor] : named_state(module)) {
    // A copy even for CPU tensors: the snapshot must not follow later in-place updates.
    state.emplace_back(name, tensor.detach().to(torch::kCPU, /*non_blocking=*/false, /*copy=*/true));
  }
  return state;
}

std::string tensor_dict_bytes(const TensorDict& tensors) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [name, tensor] : tensors) dict.insert(name, tensor);
  const std::vector<char> bytes = torch::pickle_save(dict);
  return std::string(bytes.begin(), bytes.end());
}

std::map<std::string, torch::Tensor> read_tensor_dict(const std::string& bytes, const std::string& source) {
  c10::IValue value;
  try {
    value = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
  } catch (const c10::Error& e) {
    throw DataError(fmt::format("{}: not a state dict: {}", source, e.what_without_backtrace()));
  }
  if (!value.isGenericDict()) throw DataError(fmt::format("{}: not a state dict (a {})", source, value.tagKind()));
  std::map<std::string, torch::Tensor> loaded;
  for (const auto& entry : value.toGenericDict()) {
    if (!entry.key().isString() || !entry.value().isTensor()) {
      throw DataError(fmt::format("{}: a state dict maps names to tensors", source));
    }
    loaded[entry.key().toStringRef()] = entry.value().toTensor();
  }
  return loaded;
}

std::string model_state_bytes(const torch::nn::Module& module) {
  return tensor_dict_bytes(module_state(module));
}

void load_model_state(torch::nn::Module& module, const std::string& bytes, const std::string& source) {
  auto loaded = read_tensor_dict(bytes, source);
  auto state = named_state(module);
  for (const auto& [name, tensor] : state) {
    auto found = loaded.find(name);
    if (found == loaded.end()) throw DataError(fmt::format("{}: '{}' is missing", source, name));
    if (found->second.sizes() != tensor.sizes()) {
      throw DataError(fmt::format("{}: '{}' has shape {}, the model's is {}", source, name,
                                  c10::str(found->second.sizes()), c10::str(tensor.sizes())));
    }
  }
  for (const auto& [name, tensor] : loaded) {
    if (!state.count(name)) throw DataError(fmt::format("{}: '{}' is not in the model", source, name));
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, tensor] : state) tensor.copy_(loaded[name]);
}

}  // namespace trainrt::ckpt
