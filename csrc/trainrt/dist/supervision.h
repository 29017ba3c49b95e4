// defines: Supervision
//
// What watches a communicator's collectives (dist/connect.cpp sets them up): the watchdog that
// catches collectives that never complete, the flight recorder that numbers and keeps the last
// ones (dist/flight_recorder.h), and the diagnosis that names the rank a failed collective lost
// (dist/heartbeat.h). Any may be empty.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "trainrt/dist/flight_recorder.h"
#include "trainrt/dist/watchdog.h"

namespace trainrt::dist {

struct Supervision {
  std::shared_ptr<Watchdog> watchdog;
  std::shared_ptr<FlightRecorder> flight;
  std::function<std::string()> diagnose;  // e.g. "lost rank 3 (no heartbeat for 1.5 s)"
  // Whether completion is seen by polling each collective's completion query rather than from
  // its future (dist/completion_poller.h): the NCCL backend sets it; tests set it on Gloo to run
  // the same path on the CPU.
  bool poll_completion = false;
};

}  // namespace trainrt::dist
