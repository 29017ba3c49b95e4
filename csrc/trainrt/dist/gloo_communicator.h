// defines: make_gloo_communicator
//
// The Gloo backend: collectives on CPU tensors over TCP, through LibTorch's ProcessGroupGloo.
// Built when CMake finds Gloo's headers (TRAINRT_WITH_GLOO); dist/connect.h picks it.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <torch/csrc/distributed/c10d/Store.hpp>

#include "trainrt/dist/communicator.h"
#include "trainrt/dist/supervision.h"

namespace trainrt::dist {

// Joins the group of `world_size` ranks that rendezvous through `store`. Gloo connects every pair
// of ranks over TCP from `bind_host`'s address: the network interface named by GLOO_SOCKET_IFNAME
// when set (as in PyTorch), else the address `bind_host` resolves to. A collective that takes
// longer than `timeout` fails.
std::shared_ptr<Communicator> make_gloo_communicator(const c10::intrusive_ptr<c10d::Store>& store,
                                                     int rank, int world_size,
                                                     const std::string& bind_host,
                                                     std::chrono::milliseconds timeout,
                                                     Supervision supervision = {});

}  // namespace trainrt::dist
