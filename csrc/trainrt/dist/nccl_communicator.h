// defines: make_nccl_communicator
//
// The NCCL backend: collectives on CUDA tensors through LibTorch's ProcessGroupNCCL, which runs
// each collective on its own CUDA stream and orders it after the compute stream with an event
// (so the backward pass keeps computing while a bucket is reduced). Built when CMake finds a CUDA
// LibTorch and nccl.h (TRAINRT_WITH_NCCL); dist/connect.h picks it.
#pragma once

#include <chrono>
#include <memory>

#include <torch/csrc/distributed/c10d/Store.hpp>

#include "trainrt/dist/communicator.h"
#include "trainrt/dist/supervision.h"

namespace trainrt::dist {

// Joins the group of `world_size` ranks that rendezvous through `store`; one CUDA device per rank
// (the current device when the first collective runs). A collective that takes longer than
// `timeout` fails.
std::shared_ptr<Communicator> make_nccl_communicator(const c10::intrusive_ptr<c10d::Store>& store,
                                                     int rank, int world_size,
                                                     std::chrono::milliseconds timeout,
                                                     Supervision supervision = {});

}  // namespace trainrt::dist
