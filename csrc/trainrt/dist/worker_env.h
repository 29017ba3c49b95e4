// defines: WorkerIdentity, EnvLookup, worker_identity_from, worker_identity, first_slurm_host
//
// Who this process is in a data-parallel job, read from the environment its launcher set:
// torchrun's contract (RANK, WORLD_SIZE, LOCAL_RANK, ..., see ../shared/docs/REFERENCE.md) first,
// else Slurm's (SLURM_PROCID, ...), else Open MPI's (OMPI_COMM_WORLD_RANK, ...), else a single
// process. Mismatched or partial settings fail with a message naming the variable.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace trainrt::dist {

struct WorkerIdentity {
  std::string source = "single";  // "torchrun", "slurm", "openmpi" or "single"
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  int node_rank = 0;
  int num_nodes = 1;
  std::string master_addr = "127.0.0.1";  // where rank 0's (or the launcher's) TCP store listens
  int master_port = 29500;
  bool launcher_hosts_store = false;  // TORCHELASTIC_USE_AGENT_STORE=True: every rank is a client
  int restart_count = 0;              // TORCHELASTIC_RESTART_COUNT
  int max_restarts = 0;               // TORCHELASTIC_MAX_RESTARTS
  std::string run_id;                 // TORCHELASTIC_RUN_ID
  std::string error_file;             // TORCHELASTIC_ERROR_FILE: where a failing worker reports
  // TRAINRT_RECOVERY: "memory" (the survivors of a lost rank keep training and hand their state to
  // its replacement; `trainrt launch` sets it by default) or "restart" (the whole group restarts
  // and resumes from the newest checkpoint: torchrun's way, and the default without the variable).
  std::string recovery = "restart";
  // TRAINRT_MIN_WORLD_SIZE (`trainrt launch --nnodes MIN:MAX`): the fewest ranks memory recovery
  // goes on with; 0: unset (the config's distributed.min_world_size decides).
  int min_world_size = 0;
  // TRAINRT_SPARE: this process is a spare of that name, waiting for the rank of a failed worker
  // (dist/spare.h); "" for a worker.
  std::string spare;
};

// Looks up one environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// The identity the variables give; throws trainrt::Error naming the variable that is malformed,
// out of range or missing beside its partners.
WorkerIdentity worker_identity_from(const EnvLookup& env);

// The same, from this process's environment.
WorkerIdentity worker_identity();

// The first host of a Slurm node list: "node[03-05,9]" -> "node03", "a1,b2" -> "a1".
std::string first_slurm_host(const std::string& nodelist);

}  // namespace trainrt::dist
