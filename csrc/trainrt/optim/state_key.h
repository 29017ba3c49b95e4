// defines: state_key
//
// How LibTorch's optimizers key their per-parameter state: the address of the parameter's
// TensorImpl, as a string up to LibTorch 1.13 and as the pointer itself since 2.0.
#pragma once

#include <string>

#include <torch/torch.h>
#include <torch/version.h>

namespace trainrt::optim {

inline auto state_key(const torch::Tensor& parameter) {
#if TORCH_VERSION_MAJOR >= 2
  return static_cast<void*>(parameter.unsafeGetTensorImpl());
#else
  return c10::guts::to_string(parameter.unsafeGetTensorImpl());
#endif
}

}  // namespace trainrt::optim
