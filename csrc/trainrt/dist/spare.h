// defines: spare_assignment_key, await_assignment
//
// A spare worker (`trainrt launch --spares N`, recovery from memory): started beside the others,
// it loads its libraries and its data like them, then waits for its launcher to hand it the rank
// of a worker that failed. A replacement is then ready in milliseconds, where a new process would
// take its start-up and its data load (most of a replacement's downtime, BENCHMARKS.md).
#pragma once

#include <chrono>
#include <string>

#include "trainrt/dist/worker_env.h"

namespace trainrt::dist {

// Where the launcher writes the rank of spare `name` (in the job's store scope): "RANK LOCAL_RANK".
std::string spare_assignment_key(const std::string& name);

// Blocks until the launcher assigns this spare (identity.spare) a rank; returns the identity of
// that rank, whose RANK, LOCAL_RANK and ROLE_RANK are also set in this process's environment (as
// the launcher would have set them). Throws trainrt::Error (kDistributed) if the store goes away.
WorkerIdentity await_assignment(WorkerIdentity identity, std::chrono::milliseconds store_timeout);

}  // namespace trainrt::dist
