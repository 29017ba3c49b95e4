// defines: model_state_bytes, load_model_state
//
// A model's parameters and buffers as a state dict in PyTorch's own format (torch::pickle_save of
// a Dict[str, Tensor]): Python's `torch.load` opens the bytes as {name: tensor}, and they load
// back into a LibTorch module of the same architecture.
#pragma once

#include <string>

#include <torch/torch.h>

namespace trainrt::ckpt {

// Every parameter and buffer of `module`, by its dotted name, copied to the CPU.
std::string model_state_bytes(const torch::nn::Module& module);

// Copies the state in `bytes` into `module`'s parameters and buffers (on whatever device they
// are). Throws trainrt::Error (kData) naming `source` and the first name that is missing, extra or
// of another shape.
void load_model_state(torch::nn::Module& module, const std::string& bytes, const std::string& source);

}  // namespace trainrt::ckpt
