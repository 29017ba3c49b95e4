// defines: LaunchOptions, launch, worker_environment
//
// `trainrt launch`: starts this node's workers with torchrun's environment contract
// (../shared/docs/REFERENCE.md), hosts the rendezvous store on node 0, forwards its signals
// (launch/launcher_signals.h), and watches the group. With --recovery memory (the default) a failed worker is reported in the
// store (lost/<rank>, dist/membership.h) at once and, while restarts remain, started again alone
// with TORCHELASTIC_RESTART_COUNT raised; the others keep their state and hand it over. With
// --recovery restart the others are stopped (SIGTERM, then SIGKILL after a grace period) and,
// while restarts remain, the whole group starts again and resumes from its checkpoints. When the
// job fails the launcher exits with the failed worker's status, naming its rank, its exit code or
// signal, the cause from its error file and the tail of its output.
//
// Multi-node: every node runs one launcher with the same --nnodes, --master-addr and
// --master-port and its own --node-rank; node 0's launcher hosts the store. Each node restarts its
// own group; a node whose peers failed sees its workers fail too and restarts in step.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace trainrt::launch {

struct LaunchOptions {
  int nproc_per_node = 1;
  int nnodes = 1;
  int min_nnodes = 0;  // --nnodes MIN:MAX's MIN (0: nnodes): the fewest nodes memory recovery goes on with
  int node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool standalone = false;  // pick a free port on this machine (single node)
  int max_restarts = 0;
  // "memory": a failed worker is replaced alone while the others keep training (they hand it their
  // state, dist/replica_group.h); without restarts left it is not replaced and the others go on
  // without it if their config allows (distributed.min_world_size). "restart": the whole group
  // restarts from the newest checkpoint.
  std::string recovery = "memory";
  // Spare workers per node (memory recovery): started with the others, each loads its data and
  // waits to take the rank of a worker that fails, so that a replacement is ready at once. -1: one
  // when --max-restarts allows any, else none.
  int spares = -1;
  std::string run_id = "none";
  std::string log_dir;      // when set: one log file per rank there (output still prefixed on stdout)
  std::chrono::milliseconds stop_grace{std::chrono::seconds(10)};  // SIGTERM -> SIGKILL
  std::vector<std::string> program;  // PROGRAM ARGS...
  std::FILE* out = stdout;
};

// Runs the job; returns the launcher's exit status (0 when every worker succeeded). Throws
// trainrt::Error (kConfig) for bad options.
int launch(const LaunchOptions& options);

// The environment of one worker: this process's, plus torchrun's variables for `local_rank`, plus
// what torchrun and NCCL's interface choice add unless the user set it (launcher.cpp's
// worker_defaults).
std::vector<std::string> worker_environment(const LaunchOptions& options, int local_rank,
                                            int master_port, int restart_count,
                                            const std::string& error_file);

}  // namespace trainrt::launch
