#include "trainrt/dist/flight_recorder.h"
#include "trainrt/train/stop_agreement.h"

#include "trainrt/dist/rank_reduce.h"

namespace trainrt::train {
namespace {

// What a rank contributes (a MAX over ranks): 0 to go on, kStopRequested when the application
// asked to stop, kStopRequested + N for signal N.
constexpr int kStopRequested = 1 << 10;

}  // namespace

StopDecision agree_to_stop(dist::Communicator* communicator, int signal, bool requested, bool regroup) {
  const int mine = signal != 0 ? kStopRequested + signal : requested ? kStopRequested : 0;
  // One all-reduce for both: the stop code and the regroup flag, each a maximum over ranks.
  dist::CollectivePurpose purpose("stop agreement");
  const std::vector<int> agreed = dist::max_over_ranks(communicator, {mine, regroup ? 1 : 0});
  StopDecision decision;
  if (agreed[0] > kStopRequested) decision.signal = agreed[0] - kStopRequested;
  else decision.requested = agreed[0] == kStopRequested;
  decision.regroup = agreed[1] != 0;
  return decision;
}

}  // namespace trainrt::train
