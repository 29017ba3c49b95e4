// defines: module_state, write_tensor_dict, tensor_dict_bytes, read_tensor_dict, model_state_bytes,
//          load_model_state
//
// Named tensors in PyTorch's own format (torch::pickle_save of a Dict[str, Tensor]): Python's
// `torch.load` opens the bytes as {name: tensor}. A model's state dict (parameters and buffers by
// dotted name) loads back into a LibTorch module of the same architecture; the optimizer's state
// (optim/state.h) is stored the same way.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "trainrt/core/tensor_dict.h"

namespace trainrt::ckpt {

// The type lives in core/ (optim/ makes them too); ckpt::TensorDict is the same type.
using ::trainrt::TensorDict;

// Every parameter and buffer of `module` by its dotted name, sorted, as CPU copies that later
// training steps cannot change (a checkpoint's snapshot). With `copy_parameters` false the
// parameters are the live tensors (only an optimizer step changes them); buffers, which a forward
// pass updates, are always copied.
TensorDict module_state(const torch::nn::Module& module, bool copy_parameters = true);

// `tensors` as a Dict[str, Tensor] in torch.save's zip format, written to `sink` piece by piece
// (the tensors' bytes go straight from their storage to the sink, never copied whole).
void write_tensor_dict(const TensorDict& tensors, const std::function<void(const char*, size_t)>& sink);

// The same, as bytes.
std::string tensor_dict_bytes(const TensorDict& tensors);

// The Dict[str, Tensor] pickled in `bytes`. Throws trainrt::Error (kData) naming `source` if the
// bytes are not one. The zip's own CRC-32 of each tensor's bytes is checked.
std::map<std::string, torch::Tensor> read_tensor_dict(const std::string& bytes, const std::string& source);

// The same for bytes already verified (a checkpoint's file, against its manifest), without a copy
// or a second CRC: the tensors point into `bytes`, which must outlive them unchanged (a resume
// copies them into the model and optimizer, then lets them go).
std::map<std::string, torch::Tensor> read_verified_tensor_dict(const std::string& bytes, const std::string& source);

// tensor_dict_bytes(module_state(module)).
std::string model_state_bytes(const torch::nn::Module& module);

// Copies the state in `bytes` into `module`'s parameters and buffers (on whatever device they
// are); `verified`: the bytes were checked already (read_verified_tensor_dict). Throws
// trainrt::Error (kData) naming `source` and the first name that is missing, extra or of another
// shape.
void load_model_state(torch::nn::Module& module, const std::string& bytes, const std::string& source,
                      bool verified = false);

}  // namespace trainrt::ckpt
