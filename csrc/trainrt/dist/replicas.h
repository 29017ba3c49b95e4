// defines: broadcast_module_state
//
// Replicas start identical: rank 0's parameters and buffers are copied to every rank before the
// first step, whatever each rank's seed or initialisation did.
#pragma once

#include <torch/torch.h>

#include "trainrt/dist/communicator.h"

namespace trainrt::dist {

// Overwrites every parameter and buffer of `module` with `root`'s, in a few flat broadcasts (one
// per element type) rather than one per tensor. Collective: every rank must call it.
void broadcast_module_state(torch::nn::Module& module, Communicator& communicator, int root = 0);

}  // namespace trainrt::dist
