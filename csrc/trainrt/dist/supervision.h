// defines: Supervision
//
// What watches a communicator's collectives (dist/connect.cpp sets both up): the watchdog that
// catches collectives that never complete, and the diagnosis that names the rank a failed
// collective lost (dist/heartbeat.h). Either may be empty.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "trainrt/dist/watchdog.h"

namespace trainrt::dist {

struct Supervision {
  std::shared_ptr<Watchdog> watchdog;
  std::function<std::string()> diagnose;  // e.g. "lost rank 3 (no heartbeat for 1.5 s)"
};

}  // namespace trainrt::dist
