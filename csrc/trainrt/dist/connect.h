// defines: connect, make_communicator, make_watchdog, make_flight_recorder, reducer_options, collective_timeout
//
// From a worker's identity and the config's `distributed` section to a working communicator:
// rendezvous (dist/rendezvous.h), then the backend the config asks for (auto: NCCL for CUDA
// models, else Gloo) among those CMake built.
#pragma once

#include <chrono>
#include <memory>

#include <torch/csrc/distributed/c10d/Store.hpp>

#include "trainrt/config/trainrt.pb.h"
#include "trainrt/dist/communicator.h"
#include "trainrt/dist/reducer.h"
#include "trainrt/dist/supervision.h"
#include "trainrt/dist/worker_env.h"

namespace trainrt::dist {

// Joins the job `identity` describes (world_size > 1). Throws trainrt::Error: kConfig when the
// backend was not built or does not fit the device, kDistributed when the rendezvous fails.
// `flight_dir`: where the flight recorder dumps (dist/flight_recorder.h); "" keeps it in memory.
std::shared_ptr<Communicator> connect(const WorkerIdentity& identity,
                                      const config::DistributedConfig& config, bool cuda,
                                      const std::string& flight_dir = "");

// The communicator of one group over `store` (already scoped to it), for a rank of `world_size`.
std::shared_ptr<Communicator> make_communicator(const WorkerIdentity& identity,
                                                const config::DistributedConfig& config, bool cuda,
                                                const c10::intrusive_ptr<c10d::Store>& store,
                                                int rank, int world_size, Supervision supervision);

// The watchdog's last resort for a collective stuck past twice `timeout`: dump the flight recorder
// (if any) and report (stderr and the launcher's error file; the lowest rank that dumped adds the
// flight report), then end the process, since nothing else can unblock a thread stuck in a
// collective.
std::shared_ptr<Watchdog> make_watchdog(const WorkerIdentity& identity, std::chrono::milliseconds timeout,
                                        std::shared_ptr<FlightRecorder> flight = nullptr);

// The flight recorder of one group: dumps go to `dir` as rank_<identity.rank>.json.
std::shared_ptr<FlightRecorder> make_flight_recorder(const WorkerIdentity& identity, const std::string& dir,
                                                     int rank, int world_size, const std::string& group);

std::chrono::milliseconds collective_timeout(const config::DistributedConfig& config);

ReducerOptions reducer_options(const config::DistributedConfig& config);

// The backends this build carries, e.g. {"gloo"} or {"nccl"}.
std::vector<std::string> built_backends();

}  // namespace trainrt::dist
