// defines: catch_stop_signals, stop_signal
//
// Preemption: a scheduler (Slurm, Kubernetes, `trainrt launch`, torchrun) asks a job to stop with
// SIGTERM, a user with Ctrl-C (SIGINT). With these caught, the trainer finishes the step it is in,
// writes a checkpoint and returns, instead of dying mid-step. A second signal of the same kind
// acts as if none were caught (the process ends at once), so an impatient user is never stuck.
// Signals belong to the process: the program (trainers/main.cpp) catches them, not the library.
#pragma once

namespace trainrt::train {

// Installs the handlers for SIGTERM and SIGINT.
void catch_stop_signals();

// The signal that asked to stop (SIGTERM or SIGINT), or 0 if none arrived.
int stop_signal();

}  // namespace trainrt::train
