#include "trainrt/train/membership_report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace trainrt::train {
namespace {

std::string ranks_text(const std::vector<int>& ranks) { return fmt::format("{}", fmt::join(ranks, ",")); }

}  // namespace

obs::NamedValues MembershipReport::values() const {
  return {{"generation", static_cast<double>(generation)},
          {"world_size", static_cast<double>(world_size)},
          {"lost", static_cast<double>(lost.size())},
          {"joined", static_cast<double>(joined.size())},
          {"detect_ms", detect_ms},
          {"rendezvous_ms", rendezvous_ms},
          {"transfer_ms", transfer_ms},
          {"downtime_ms", downtime_ms},
          {"redone_steps", static_cast<double>(redone_steps)}};
}

obs::MetricsLog::Labels MembershipReport::labels() const {
  return {{"lost_ranks", ranks_text(lost)}, {"joined_ranks", ranks_text(joined)}, {"source", source}};
}

std::string MembershipReport::describe() const {
  std::string who;
  if (!lost.empty()) who += fmt::format("lost rank{} {}, ", lost.size() == 1 ? "" : "s", fmt::join(lost, ", "));
  if (!joined.empty()) who += fmt::format("joined rank{} {}, ", joined.size() == 1 ? "" : "s", fmt::join(joined, ", "));
  return fmt::format("generation {}: {}{} rank{}; state of step {} from {}; downtime {:.0f} ms (detect "
                     "{:.0f}, rendezvous {:.0f}, transfer {:.0f}), {} step{} redone",
                     generation, who, world_size, world_size == 1 ? "" : "s", step, source,
                     downtime_ms, detect_ms, rendezvous_ms, transfer_ms, redone_steps,
                     redone_steps == 1 ? "" : "s");
}

}  // namespace trainrt::train
