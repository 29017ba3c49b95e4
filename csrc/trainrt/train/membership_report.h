// defines: MembershipReport
//
// What one membership change of a data-parallel group cost (recovery from the replicas' memory,
// dist/replica_group.h): rank 0 writes it as a metrics.jsonl line of split "membership" (and
// TensorBoard's membership/* scalars), the log says it in words, and `trainrt runs summary` totals
// the lines.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "trainrt/obs/metrics_log.h"
#include "trainrt/obs/named_values.h"

namespace trainrt::train {

struct MembershipReport {
  int64_t step = 0;          // the step training continues after
  int64_t generation = 0;
  int world_size = 0;
  std::vector<int> lost;     // launch ranks lost
  std::vector<int> joined;   // launch ranks that joined (replacements, returning processes)
  std::string source = "memory";  // where the state came from: "memory" or "disk"
  double detect_ms = 0;      // last step boundary -> the failure seen
  double rendezvous_ms = 0;  // the new generation agreed (waiting for a replacement included)
  double transfer_ms = 0;    // the newest state on every rank
  double downtime_ms = 0;    // last step boundary -> training again
  int64_t redone_steps = 0;  // completed steps lost and trained again

  obs::NamedValues values() const;
  obs::MetricsLog::Labels labels() const;
  // "generation 2: lost rank 1, joined rank 1, 2 ranks; state of step 120 from memory;
  // downtime 412 ms (detect 31, rendezvous 350, transfer 31), 0 steps redone".
  std::string describe() const;
};

}  // namespace trainrt::train
