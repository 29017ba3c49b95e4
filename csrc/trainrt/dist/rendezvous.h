// defines: rendezvous, connect_to_store, missing_ranks
//
// How the ranks of a job find each other: through a TCP key-value store (c10d's TCPStore) at
// MASTER_ADDR:MASTER_PORT, hosted by rank 0 or, under torchrun's agent, by the launcher. Each rank
// announces itself and waits for all the others; a rank that does not arrive within the timeout
// makes the others fail with a message naming it. The returned store is scoped to this attempt
// (run id and restart count), so a restarted group never reads an earlier attempt's keys.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <torch/csrc/distributed/c10d/Store.hpp>

#include "trainrt/dist/worker_env.h"

namespace trainrt::dist {

// Connects to (or, for rank 0 unless the launcher hosts it, starts) the store and waits until all
// `identity.world_size` ranks have arrived. Throws trainrt::Error (kDistributed) naming the
// missing ranks, or the address it could not reach or listen on.
c10::intrusive_ptr<c10d::Store> rendezvous(const WorkerIdentity& identity,
                                           std::chrono::milliseconds timeout);

// Another connection to the same (already running) store and scope, for a thread of its own.
c10::intrusive_ptr<c10d::Store> connect_to_store(const WorkerIdentity& identity,
                                                 std::chrono::milliseconds timeout);

// The ranks in [0, world_size) that have not announced themselves in `store`.
std::vector<int> missing_ranks(c10d::Store& store, int world_size);

}  // namespace trainrt::dist
