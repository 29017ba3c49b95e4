// defines: broadcast_module_state, broadcast_bytes, all_gather_bytes
//
// Replicas start identical: rank 0's parameters and buffers are copied to every rank before the
// first step, whatever each rank's seed or initialisation did; a resumed run's checkpoint is read
// by rank 0 alone and its bytes sent to the others (nodes need not share a file system).
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "trainrt/dist/communicator.h"

namespace trainrt::dist {

// Overwrites every parameter and buffer of `module` with `root`'s, in a few flat broadcasts (one
// per element type) rather than one per tensor. Collective: every rank must call it.
void broadcast_module_state(torch::nn::Module& module, Communicator& communicator, int root = 0);

// `root`'s `bytes` on every rank (the others' argument is ignored). Collective.
std::string broadcast_bytes(const std::string& bytes, Communicator& communicator, int root = 0);

// Every rank's `bytes`, in rank order, on every rank. Collective.
std::vector<std::string> all_gather_bytes(const std::string& bytes, Communicator& communicator);

}  // namespace trainrt::dist
