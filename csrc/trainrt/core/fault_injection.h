// defines: fault_injection::set_step, fault_injection::set_incarnation, fault_injection::point,
//          fault_injection::fires
//
// Fault injection for the reliability suite (tests/integration/fault_injection_test.cpp,
// docs/RELIABILITY.md): the environment variable TRAINRT_FAULT lists where a worker kills itself
// with SIGKILL, the way a crashed or OOM-killed process dies, with no chance to clean up:
//
//   TRAINRT_FAULT=POINT:STEP:RANK[,POINT:STEP:RANK...]
//
// Entry i applies to the group's i-th incarnation, so one launcher run with --max-restarts meets
// every fault in turn: the restart count (TORCHELASTIC_RESTART_COUNT = i) when the whole group
// restarts, the membership generation (dist/membership.h) under recovery from memory, where the
// survivors live on and only the lost rank is replaced. POINT is "forward" (before the step's
// forward pass), "allreduce" (the first gradient bucket's all-reduce is in flight), "checkpoint"
// (the checkpoint of that step is half written: its files are on disk, its manifest is not) or
// "transfer" (a replica's state is being handed to a replacement; STEP is the state's step).
// One POINT does not kill: "extra" makes that rank issue one collective the others do not (a
// one-element all-reduce before the step's first gradient bucket), the divergence the flight
// recorder (dist/flight_recorder.h) must name.
// Unset, every point costs one branch.
#pragma once

#include <cstdint>

namespace trainrt::fault_injection {

// The optimizer step (1-based) the trainer is computing, for points that do not know it.
void set_step(int64_t step);

// This process's incarnation from now on (default: TORCHELASTIC_RESTART_COUNT).
void set_incarnation(int64_t incarnation);

// Kills this process if TRAINRT_FAULT names `point` at `step` (default: the current step) for
// this rank and incarnation. Throws trainrt::Error (kConfig) naming the variable if it is malformed.
void point(const char* name);

// Whether TRAINRT_FAULT names `point` at the current step for this rank and incarnation (for
// points that do something other than kill).
bool fires(const char* name);
void point(const char* name, int64_t step);

}  // namespace trainrt::fault_injection
