#include "trainrt/core/device.h"

#include <cstdlib>

#include <ATen/autocast_mode.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <fmt/format.h>
#include <torch/version.h>

#include "trainrt/core/error.h"

// LibTorch 2.4 replaced the per-device autocast functions (set_enabled, set_cpu_enabled, ...) with
// ones that take the device type.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define TRAINRT_AUTOCAST_BY_DEVICE_TYPE 1
#else
#define TRAINRT_AUTOCAST_BY_DEVICE_TYPE 0
#endif

namespace trainrt {
namespace {

bool autocast_enabled(torch::DeviceType type) {
#if TRAINRT_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::is_autocast_enabled(type);
#else
  return type == torch::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

torch::Dtype autocast_dtype(torch::DeviceType type) {
#if TRAINRT_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::get_autocast_dtype(type);
#else
  return type == torch::kCUDA ? at::autocast::get_autocast_gpu_dtype()
                              : at::autocast::get_autocast_cpu_dtype();
#endif
}

void set_autocast(torch::DeviceType type, bool enabled, torch::Dtype dtype) {
#if TRAINRT_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_dtype(type, dtype);
  at::autocast::set_autocast_enabled(type, enabled);
#else
  if (type == torch::kCUDA) {
    at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(enabled);
  } else {
    at::autocast::set_autocast_cpu_dtype(dtype);
    at::autocast::set_cpu_enabled(enabled);
  }
#endif
}

std::string visible_devices() {
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  return visible ? fmt::format(" (CUDA_VISIBLE_DEVICES={})", visible) : std::string();
}

}  // namespace

torch::Device choose_device(const std::string& wanted, int local_rank) {
  if (wanted == "cpu") return torch::kCPU;
  // Validation refuses other values in a config; this guards a caller that passes its own string.
  if (wanted != "auto" && wanted != "cuda") {
    throw ConfigError(fmt::format("runtime.device: \"{}\" is none of \"auto\", \"cpu\", \"cuda\"", wanted));
  }
  const bool has_cuda = torch::cuda::is_available();
  if (wanted == "auto" && !has_cuda) return torch::kCPU;
  if (!has_cuda) {
    throw ConfigError("runtime.device: cuda, but this trainrt's LibTorch has no CUDA or sees no CUDA "
                      "device" + visible_devices() + "; use device: \"cpu\" or \"auto\"");
  }
  const auto count = static_cast<int>(torch::cuda::device_count());
  if (local_rank >= count) {
    throw ConfigError(fmt::format("runtime.device: local rank {} needs CUDA device {}, but {} "
                                  "device{} visible{}; start at most {} process{} per node",
                                  local_rank, local_rank, count, count == 1 ? " is" : "s are",
                                  visible_devices(), count, count == 1 ? "" : "es"));
  }
  const torch::Device device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank));
  // Kernels, streams and NCCL's communicator of this process use this device from now on.
  c10::impl::VirtualGuardImpl(torch::kCUDA).setDevice(device);
  return device;
}

void use_deterministic_kernels() {
  // cuBLAS picks its reduction order by workspace; a fixed one makes it repeat (NVIDIA's cuBLAS
  // documentation, "Results reproducibility").
  setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", /*overwrite=*/0);
  at::globalContext().setDeterministicCuDNN(true);
  at::globalContext().setBenchmarkCuDNN(false);
  at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true);
}

bool uses_bfloat16(const std::string& precision) { return precision == "bfloat16"; }

AutocastScope::AutocastScope(torch::DeviceType device_type, bool enabled, torch::Dtype dtype)
    : device_type_(device_type), enabled_(enabled) {
  if (!enabled_) return;
  was_enabled_ = autocast_enabled(device_type_);
  previous_dtype_ = autocast_dtype(device_type_);
  set_autocast(device_type_, true, dtype);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!enabled_) return;
  // The cast weights are kept for the scope's whole forward pass; the next pass casts afresh,
  // after the optimizer has changed the float32 weights.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast(device_type_, was_enabled_, previous_dtype_);
}

}  // namespace trainrt
