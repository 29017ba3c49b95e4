#include "trainrt/train/stop_agreement.h"

#include "trainrt/dist/rank_reduce.h"

namespace trainrt::train {
namespace {

// What a rank contributes (a MAX over ranks): 0 to go on, kStopRequested when the application
// asked to stop, kStopRequested + N for signal N.
constexpr int kStopRequested = 1 << 10;

}  // namespace

StopDecision agree_to_stop(dist::Communicator* communicator, int signal, bool requested) {
  const int mine = signal != 0 ? kStopRequested + signal : requested ? kStopRequested : 0;
  const int agreed = dist::max_over_ranks(communicator, mine);
  StopDecision decision;
  if (agreed > kStopRequested) decision.signal = agreed - kStopRequested;
  else decision.requested = agreed == kStopRequested;
  return decision;
}

}  // namespace trainrt::train
