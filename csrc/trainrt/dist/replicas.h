// defines: broadcast_tensors, broadcast_module_state, broadcast_tensor_dict, broadcast_bytes,
//          all_gather_bytes
//
// Replicas start identical: rank 0's parameters and buffers are copied to every rank before the
// first step, whatever each rank's seed or initialisation did; a resumed run's checkpoint is read
// by rank 0 alone and its bytes sent to the others (nodes need not share a file system).
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "trainrt/core/tensor_dict.h"
#include "trainrt/dist/communicator.h"

namespace trainrt::dist {

// Overwrites each of `tensors` (the same shapes and types on every rank, in the same order) with
// `root`'s, in one flat broadcast per element type and device. Collective.
void broadcast_tensors(const std::vector<torch::Tensor>& tensors, Communicator& communicator, int root);

// Overwrites every parameter and buffer of `module` with `root`'s, in a few flat broadcasts (one
// per element type) rather than one per tensor. Collective: every rank must call it.
void broadcast_module_state(torch::nn::Module& module, Communicator& communicator, int root = 0);

// `root`'s `dict` on every rank, whatever the others hold (their `dict` is ignored): names,
// shapes and types first, then the contents; the others' tensors are made on `device`. Collective.
TensorDict broadcast_tensor_dict(const TensorDict& dict, Communicator& communicator, int root,
                                 torch::Device device);

// `root`'s `bytes` on every rank (the others' argument is ignored). Collective.
std::string broadcast_bytes(const std::string& bytes, Communicator& communicator, int root = 0);

// Every rank's `bytes`, in rank order, on every rank. Collective.
std::vector<std::string> all_gather_bytes(const std::string& bytes, Communicator& communicator);

}  // namespace trainrt::dist
