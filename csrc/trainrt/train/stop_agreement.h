// defines: StopDecision, agree_to_stop
//
// Whether every rank stops at this step boundary: a stop signal (train/stop_signals.h) or an
// application's request (a callback's kStop, Trainer::request_stop) on ANY rank stops them all at
// the same step, so that the checkpoint written then is the state of every replica. One small
// all-reduce (a maximum) per step; a signal wins over a request, so the program exits 128 + N
// after the checkpoint checkpoint.on_signal asks for.
#pragma once

#include "trainrt/dist/communicator.h"

namespace trainrt::train {

struct StopDecision {
  int signal = 0;          // the signal that stops the run (0: none)
  bool requested = false;  // an application asked (and no signal arrived)
  bool regroup = false;    // a rank saw a process waiting to join the group (dist/replica_group.h)
  bool stop() const { return signal != 0 || requested; }
};

// This rank's `signal` (0: none), `requested` and `regroup`, agreed over all ranks (collective).
StopDecision agree_to_stop(dist::Communicator* communicator, int signal, bool requested,
                           bool regroup = false);

}  // namespace trainrt::train
