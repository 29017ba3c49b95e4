#include "trainrt/dist/replicas.h"

#include <cstring>
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

std::string broadcast_bytes(const std::string& bytes, Communicator& communicator, int root) {
  const bool is_root = communicator.rank() == root;
  torch::Tensor size = torch::tensor({is_root ? static_cast<int64_t>(bytes.size()) : int64_t{0}});
  communicator.broadcast(size, root)->wait();
  torch::Tensor data = torch::empty({size.item<int64_t>()}, torch::kUInt8);
  if (is_root) std::memcpy(data.data_ptr(), bytes.data(), bytes.size());
  if (data.numel() > 0) communicator.broadcast(data, root)->wait();
  return std::string(static_cast<const char*>(data.data_ptr()), static_cast<size_t>(data.numel()));
}

std::vector<std::string> all_gather_bytes(const std::string& bytes, Communicator& communicator) {
  const int world = communicator.world_size();
  torch::Tensor sizes = torch::empty({world}, torch::kInt64);
  communicator.all_gather(sizes, torch::tensor({static_cast<int64_t>(bytes.size())}))->wait();
  const int64_t longest = sizes.max().item<int64_t>();
  // Every rank sends `longest` bytes (all_gather needs equal sizes); the padding is cut off after.
  torch::Tensor mine = torch::zeros({longest}, torch::kUInt8);
  std::memcpy(mine.data_ptr(), bytes.data(), bytes.size());
  torch::Tensor all = torch::empty({world * longest}, torch::kUInt8);
  if (longest > 0) communicator.all_gather(all, mine)->wait();
  std::vector<std::string> out;
  const char* data = static_cast<const char*>(all.data_ptr());
  for (int r = 0; r < world; ++r) {
    out.emplace_back(data + r * longest, static_cast<size_t>(sizes[r].item<int64_t>()));
  }
  return out;
}

}  // namespace trainrt::dist
