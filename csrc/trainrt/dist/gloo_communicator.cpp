#include "trainrt/dist/gloo_communicator.h"

#include <cstdlib>

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include "trainrt/dist/c10d_communicator.h"

namespace trainrt::dist {

std::shared_ptr<Communicator> make_gloo_communicator(const c10::intrusive_ptr<c10d::Store>& store,
                                                     int rank, int world_size,
                                                     const std::string& bind_host,
                                                     std::chrono::milliseconds timeout,
                                                     Supervision supervision) {
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  try {
    if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME"); interface && *interface) {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
    } else {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(bind_host));
    }
  } catch (const std::exception& e) {
    throw Error(Error::Kind::kDistributed,
                fmt::format("rank {}: Gloo cannot use the network address of '{}' (set "
                            "GLOO_SOCKET_IFNAME to the interface the ranks share): {}",
                            rank, bind_host, e.what()));
  }
  // Two threads run collectives, so that one bucket's all-reduce can proceed while the next
  // is queued (PyTorch's default too).
  options->threads = 2;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
  try {
    group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world_size, options);
  } catch (const std::exception& e) {
    const std::string cause = e.what();
    throw Error(Error::Kind::kDistributed,
                fmt::format("rank {}: Gloo could not connect to the other {} ranks: {}", rank,
                            world_size - 1, cause.substr(0, cause.find('\n'))));
  }
  // LibTorch 1.13's Gloo sums float32/64, float16 and integers, not bfloat16.
  return std::make_shared<C10dCommunicator<c10d::ProcessGroupGloo, /*native reduce_scatter=*/false>>(
      std::move(group), "gloo", torch::kCPU, std::move(supervision),
      std::vector<torch::Dtype>{torch::kBFloat16});
}

}  // namespace trainrt::dist
