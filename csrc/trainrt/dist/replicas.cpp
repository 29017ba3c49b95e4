#include "trainrt/dist/flight_recorder.h"
#include "trainrt/dist/replicas.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace trainrt::dist {

void broadcast_tensors(const std::vector<torch::Tensor>& tensors, Communicator& communicator, int root) {
  CollectivePurpose purpose("replica state");
  torch::NoGradGuard no_grad;
  // Large tensors travel in place (no copy into a flat buffer and back); small ones grouped by
  // element type and device, in the given order (the same on every rank), in one flat broadcast
  // each. All are issued before any is waited for, so the backend's threads overlap them.
  constexpr int64_t kInPlaceBytes = 1 << 20;
  std::vector<std::unique_ptr<Work>> in_flight;
  std::map<std::pair<torch::Dtype, std::string>, std::vector<torch::Tensor>> groups;
  for (const auto& tensor : tensors) {
    if (!tensor.defined() || tensor.numel() == 0) continue;
    if (tensor.nbytes() >= kInPlaceBytes && tensor.is_contiguous() && tensor.device() == communicator.device()) {
      in_flight.push_back(communicator.broadcast(tensor, root));
    } else {
      groups[{tensor.scalar_type(), tensor.device().str()}].push_back(tensor);
    }
  }
  std::vector<std::pair<torch::Tensor, std::vector<torch::Tensor>*>> flats;
  for (auto& [key, members] : groups) {
    std::vector<torch::Tensor> flat_parts;
    flat_parts.reserve(members.size());
    for (const auto& tensor : members) flat_parts.push_back(tensor.reshape(-1));
    torch::Tensor flat = torch::cat(flat_parts).to(communicator.device());
    in_flight.push_back(communicator.broadcast(flat, root));
    flats.emplace_back(flat, &members);
  }
  for (auto& work : in_flight) work->wait();
  if (communicator.rank() == root) return;
  for (auto& [flat, members] : flats) {
    int64_t offset = 0;
    for (auto& tensor : *members) {
      tensor.copy_(flat.narrow(0, offset, tensor.numel()).view_as(tensor));
      offset += tensor.numel();
    }
  }
}

void broadcast_module_state(torch::nn::Module& module, Communicator& communicator, int root) {
  std::vector<torch::Tensor> tensors = module.parameters();
  for (const auto& buffer : module.buffers()) tensors.push_back(buffer);
  broadcast_tensors(tensors, communicator, root);
}

TensorDict broadcast_tensor_dict(const TensorDict& dict, Communicator& communicator, int root,
                                 torch::Device device) {
  // The layout first ("name dtype d0,d1,..." lines), so that a rank without the tensors can make
  // room for them; then their contents as broadcast_tensors sends them.
  std::string layout;
  if (communicator.rank() == root) {
    for (const auto& [name, tensor] : dict) {
      layout += fmt::format("{} {} {}\n", name, static_cast<int>(tensor.scalar_type()),
                            fmt::join(tensor.sizes(), ","));
    }
  }
  layout = broadcast_bytes(layout, communicator, root);
  TensorDict out;
  if (communicator.rank() == root) {
    out = dict;
  } else {
    std::istringstream lines(layout);
    std::string name, sizes;
    int dtype = 0;
    while (lines >> name >> dtype) {
      std::vector<int64_t> shape;
      if (lines.peek() == ' ') lines.get();
      std::getline(lines, sizes);
      std::istringstream dims(sizes);
      for (std::string dim; std::getline(dims, dim, ',');) {
        if (!dim.empty()) shape.push_back(std::stoll(dim));
      }
      out.emplace_back(name, torch::empty(shape, torch::TensorOptions(static_cast<torch::ScalarType>(dtype))
                                                     .device(device)));
    }
  }
  std::vector<torch::Tensor> tensors;
  for (const auto& entry : out) tensors.push_back(entry.second);
  broadcast_tensors(tensors, communicator, root);
  return out;
}

namespace {

// The bytes as a tensor on the communicator's device.
torch::Tensor bytes_tensor(const std::string& bytes, int64_t length, const Communicator& communicator) {
  torch::Tensor tensor = torch::zeros({length}, torch::kUInt8);
  std::memcpy(tensor.data_ptr(), bytes.data(), std::min<size_t>(bytes.size(), length));
  return tensor.to(communicator.device());
}

}  // namespace

std::string broadcast_bytes(const std::string& bytes, Communicator& communicator, int root) {
  CollectivePurpose purpose("replica state");
  const bool is_root = communicator.rank() == root;
  torch::Tensor size = torch::tensor({is_root ? static_cast<int64_t>(bytes.size()) : int64_t{0}})
                           .to(communicator.device());
  communicator.broadcast(size, root)->wait();
  const int64_t length = size.item<int64_t>();
  torch::Tensor data = bytes_tensor(is_root ? bytes : std::string(), length, communicator);
  if (length > 0) communicator.broadcast(data, root)->wait();
  data = data.cpu();
  return std::string(static_cast<const char*>(data.data_ptr()), static_cast<size_t>(length));
}

std::vector<std::string> all_gather_bytes(const std::string& bytes, Communicator& communicator) {
  const int world = communicator.world_size();
  const auto on_device = torch::TensorOptions(torch::kInt64).device(communicator.device());
  torch::Tensor sizes = torch::empty({world}, on_device);
  communicator.all_gather(sizes, torch::tensor({static_cast<int64_t>(bytes.size())}).to(communicator.device()))->wait();
  sizes = sizes.cpu();
  const int64_t longest = sizes.max().item<int64_t>();
  // Every rank sends `longest` bytes (all_gather needs equal sizes); the padding is cut off after.
  torch::Tensor mine = bytes_tensor(bytes, longest, communicator);
  torch::Tensor all = torch::empty({world * longest}, on_device.dtype(torch::kUInt8));
  if (longest > 0) communicator.all_gather(all, mine)->wait();
  all = all.cpu();
  std::vector<std::string> out;
  const char* data = static_cast<const char*>(all.data_ptr());
  for (int r = 0; r < world; ++r) {
    out.emplace_back(data + r * longest, static_cast<size_t>(sizes[r].item<int64_t>()));
  }
  return out;
}

}  // namespace trainrt::dist
