// defines: rendezvous, connect_to_store, missing_ranks, job_scope, open_job_store
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

// The keys of one job: with memory recovery one scope for the job's life (its generations are
// dist/membership.h's); else one per attempt, so a restarted group never reads an earlier
// attempt's keys. The launcher writes into the same scope.
std::string job_scope(const std::string& run_id, bool memory_recovery, int restart_count);

// The job's scoped store, started here for rank 0 unless the launcher hosts it; no rendezvous.
c10::intrusive_ptr<c10d::Store> open_job_store(const WorkerIdentity& identity,
                                               std::chrono::milliseconds timeout);

// Another connection to the same (already running) store and scope, for a thread of its own.
c10::intrusive_ptr<c10d::Store> connect_to_store(const WorkerIdentity& identity,
                                                 std::chrono::milliseconds timeout);

// The ranks in [0, world_size) that have not announced themselves in `store`.
std::vector<int> missing_ranks(c10d::Store& store, int world_size);

}  // namespace trainrt::dist
