#include "trainrt/dist/nccl_communicator.h"

#include <cstdlib>

#include <c10/core/impl/VirtualGuardImpl.h>
#include <torch/version.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include "trainrt/dist/c10d_communicator.h"

namespace trainrt::dist {

std::shared_ptr<Communicator> make_nccl_communicator(const c10::intrusive_ptr<c10d::Store>& store,
                                                     int rank, int world_size,
                                                     std::chrono::milliseconds timeout,
                                                     Supervision supervision) {
  // A failed or timed-out collective must surface in wait() as an error the trainer recovers from
  // (memory recovery), not as the process torn down by c10d's own watchdog: blocking wait, as
  // PyTorch's TORCH_NCCL_BLOCKING_WAIT (read by ProcessGroupNCCL's constructor). A user's setting
  // wins.
#if TORCH_VERSION_MAJOR >= 2
  setenv("TORCH_NCCL_BLOCKING_WAIT", "1", /*overwrite=*/0);  // 2.x's name (the old one is deprecated)
#else
  setenv("NCCL_BLOCKING_WAIT", "1", /*overwrite=*/0);
#endif
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> group;
  try {
    group = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world_size, options);
  } catch (const std::exception& e) {
    const std::string cause = e.what();
    throw Error(Error::Kind::kDistributed,
                fmt::format("rank {}: NCCL could not start: {}", rank,
                            cause.substr(0, cause.find('\n'))));
  }
  // Its futures complete when a collective is queued on the GPU: completion is polled from the
  // works' CUDA events instead (dist/completion_poller.h).
  supervision.poll_completion = true;
  // The device choose_device() made current (core/device.h): NCCL binds the communicator to it.
  const torch::Device device = c10::impl::VirtualGuardImpl(torch::kCUDA).getDevice();
  return std::make_shared<C10dCommunicator<c10d::ProcessGroupNCCL, /*native reduce_scatter=*/true>>(
      std::move(group), "nccl", device, std::move(supervision));
}

}  // namespace trainrt::dist
