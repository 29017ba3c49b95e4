// defines: fault_injection::set_step, fault_injection::point
//
// Fault injection for the reliability suite (tests/integration/fault_injection_test.cpp,
// docs/RELIABILITY.md): the environment variable TRAINRT_FAULT lists where a worker kills itself
// with SIGKILL, the way a crashed or OOM-killed process dies, with no chance to clean up:
//
//   TRAINRT_FAULT=POINT:STEP:RANK[,POINT:STEP:RANK...]
//
// Entry i applies to the group's i-th incarnation (TORCHELASTIC_RESTART_COUNT = i), so one
// launcher run with --max-restarts meets every fault in turn. POINT is "forward" (before the
// step's forward pass), "allreduce" (the first gradient bucket's all-reduce is in flight) or
// "checkpoint" (the checkpoint of that step is half written: its files are on disk, its manifest
// is not). Unset, every point costs one branch.
#pragma once

#include <cstdint>

namespace trainrt::fault_injection {

// The optimizer step (1-based) the trainer is computing, for points that do not know it.
void set_step(int64_t step);

// Kills this process if TRAINRT_FAULT names `point` at `step` (default: the current step) for
// this rank and incarnation. Throws trainrt::Error (kConfig) naming the variable if it is malformed.
void point(const char* name);
void point(const char* name, int64_t step);

}  // namespace trainrt::fault_injection
