// defines: optimizer_state, load_optimizer_state
//
// The per-parameter state of the optimizers a config can name, as named tensors (core/tensor_dict.h)
// that a checkpoint stores (ckpt/state_dict.h writes them): "<parameter name>.<slot>", the slots
// being SGD's momentum_buffer and AdamW's step, exp_avg, exp_avg_sq (and max_exp_avg_sq with
// amsgrad), as in PyTorch's own optimizer state dicts. Restored, the next step is the one the saved
// optimizer would have taken.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "trainrt/core/tensor_dict.h"

namespace trainrt::optim {

// The names `module` gives the parameters of `optimizer`, in the order of its parameter groups
// (then each group's parameters): what the functions below take.
std::vector<std::string> optimizer_parameter_names(const torch::optim::Optimizer& optimizer,
                                                   const torch::nn::Module& module);

// `optimizer`'s state: CPU copies, or with `copy` false the live tensors (which its next step
// changes); `parameter_names` names its parameters (optimizer_parameter_names).
// A parameter without state yet (before its first step) has no entries.
TensorDict optimizer_state(const torch::optim::Optimizer& optimizer,
                           const std::vector<std::string>& parameter_names, bool copy = true);

// Replaces `optimizer`'s state with `state`: copies, or with `copy` false the given tensors
// themselves where they are of the parameter's type and device (the caller hands them over: a
// state received from a replica need not be copied once more). Throws trainrt::Error (kData)
// naming `source` and the entry that is of another shape, unknown, or of an optimizer other than
// this one.
void load_optimizer_state(torch::optim::Optimizer& optimizer,
                          const std::vector<std::string>& parameter_names,
                          const std::map<std::string, torch::Tensor>& state, const std::string& source,
                          bool copy = true);

}  // namespace trainrt::optim
