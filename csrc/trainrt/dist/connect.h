// defines: connect, reducer_options, collective_timeout
//
// From a worker's identity and the config's `distributed` section to a working communicator:
// rendezvous (dist/rendezvous.h), then the backend the config asks for (auto: NCCL for CUDA
// models, else Gloo) among those CMake built.
#pragma once

#include <chrono>
#include <memory>

#include "trainrt/config/trainrt.pb.h"
#include "trainrt/dist/communicator.h"
#include "trainrt/dist/reducer.h"
#include "trainrt/dist/worker_env.h"

namespace trainrt::dist {

// Joins the job `identity` describes (world_size > 1). Throws trainrt::Error: kConfig when the
// backend was not built or does not fit the device, kDistributed when the rendezvous fails.
std::shared_ptr<Communicator> connect(const WorkerIdentity& identity,
                                      const config::DistributedConfig& config, bool cuda);

std::chrono::milliseconds collective_timeout(const config::DistributedConfig& config);

ReducerOptions reducer_options(const config::DistributedConfig& config);

// The backends this build carries, e.g. {"gloo"} or {"nccl"}.
std::vector<std::string> built_backends();

}  // namespace trainrt::dist
