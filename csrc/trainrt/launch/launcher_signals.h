// defines: catch_launcher_signals, stop_signal, signal_for_workers, take_passed_on_signals
//
// The signals `trainrt launch` handles, remembered by its handlers and acted on by its watch loop:
// SIGINT, SIGTERM and SIGHUP stop the job (forwarded to the workers, which are then waited for,
// SIGKILLed after --stop-timeout); SIGUSR1 and SIGUSR2 are passed on to every running worker and
// stop nothing (torchrun users send them for a stack or flight-recorder dump, or to checkpoint).
#pragma once

#include <vector>

namespace trainrt::launch {

// Installs the handlers (once, from the launcher's main thread).
void catch_launcher_signals();

// The stop signal received (SIGINT, SIGTERM or SIGHUP), else 0.
int stop_signal();

// What the workers are sent for the stop signal `received`: itself, except SIGHUP (a closed
// terminal, a logged-out session), sent on as SIGTERM so that workers stop as on preemption (a
// checkpoint at a step boundary) rather than die of SIGHUP's default action.
int signal_for_workers(int received);

// The signals to pass on (SIGUSR1, SIGUSR2) received since the last call, in that order; each
// pending kind once, however often it came.
std::vector<int> take_passed_on_signals();

}  // namespace trainrt::launch
