#include "trainrt/dist/replicas.h"

#include <map>

namespace trainrt::dist {

void broadcast_module_state(torch::nn::Module& module, Communicator& communicator, int root) {
  torch::NoGradGuard no_grad;
  // Grouped by element type and device, in registration order (the same on every rank).
  std::map<std::pair<torch::Dtype, std::string>, std::vector<torch::Tensor>> groups;
  auto add = [&](const torch::Tensor& tensor) {
    if (tensor.defined() && tensor.numel() > 0) {
      groups[{tensor.scalar_type(), tensor.device().str()}].push_back(tensor);
    }
  };
  for (const auto& parameter : module.parameters()) add(parameter);
  for (const auto& buffer : module.buffers()) add(buffer);

  for (auto& [key, tensors] : groups) {
    std::vector<torch::Tensor> flat_parts;
    flat_parts.reserve(tensors.size());
    for (const auto& tensor : tensors) flat_parts.push_back(tensor.reshape(-1));
    torch::Tensor flat = torch::cat(flat_parts);
    communicator.broadcast(flat, root)->wait();
    int64_t offset = 0;
    for (auto& tensor : tensors) {
      tensor.copy_(flat.narrow(0, offset, tensor.numel()).view_as(tensor));
      offset += tensor.numel();
    }
  }
}

}  // namespace trainrt::dist
