// defines: choose_device, use_deterministic_kernels, uses_bfloat16, AutocastScope
//
// Where a process trains and in what arithmetic. The values are config's runtime.device and
// runtime.precision, passed as plain strings: core sits below config (docs/ARCHITECTURE.md,
// "Layers"), so the caller reads the config. Only device-generic LibTorch calls are used here, so
// the same code builds against the CPU LibTorch CI uses and the CUDA LibTorch of the GPU machine;
// CUDA is asked for at run time.
#pragma once

#include <string>

#include <torch/torch.h>

namespace trainrt {

// The device `device` (runtime.device: "auto", "cpu" or "cuda") names for the process with
// `local_rank` on its node, made the process's current CUDA device when it is one. "cuda" with no
// CUDA (or fewer visible devices than local ranks) is a ConfigError naming runtime.device and what
// is missing, as is any other name; "auto" falls back to the CPU.
torch::Device choose_device(const std::string& device, int local_rank);

// runtime.deterministic: cuDNN's deterministic algorithms without autotuning, cuBLAS's fixed
// workspace (CUBLAS_WORKSPACE_CONFIG, unless already set; read when cuBLAS starts, so call this
// before the first matrix product), PyTorch's deterministic implementations where an op has one
// (warning once for an op without). Process-wide.
void use_deterministic_kernels();

// Whether `precision` (runtime.precision: "float32" or "bfloat16") asks for bfloat16 autocast.
bool uses_bfloat16(const std::string& precision);

// Autocast for this thread while in scope: the ops autocast lists (matrix products, convolutions)
// run in `dtype` on `device_type`, the rest in float32; the previous state comes back on exit and
// the casts cached for this scope (weights cast once per forward pass) are dropped. Disabled, it
// does nothing.
class AutocastScope {
 public:
  AutocastScope(torch::DeviceType device_type, bool enabled, torch::Dtype dtype = torch::kBFloat16);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  torch::DeviceType device_type_;
  bool enabled_;
  bool was_enabled_ = false;
  torch::Dtype previous_dtype_ = torch::kFloat;
};

}  // namespace trainrt
