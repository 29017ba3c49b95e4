#include "trainrt/dist/flight_report.h"

#include <dirent.h>

#include <algorithm>
#include <map>
#include <regex>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "trainrt/core/error.h"
#include "trainrt/core/files.h"

namespace trainrt::dist {
namespace {

// Dumps further apart than this belong to different incidents (a restarted job dumps again).
constexpr int64_t kIncidentWindowUs = 60'000'000;

std::string bytes_text(int64_t bytes) {
  if (bytes >= (1 << 20)) return fmt::format("{:.1f} MiB", bytes / double(1 << 20));
  if (bytes >= (1 << 10)) return fmt::format("{:.1f} KiB", bytes / double(1 << 10));
  return fmt::format("{} B", bytes);
}

// "all_reduce float32 1.2 MiB (gradient bucket 0)": what must match across ranks, and why it ran.
std::string describe(const FlightEntry& entry) {
  std::string text = entry.op;
  if (!entry.dtype.empty()) text += fmt::format(" {} {}", entry.dtype, bytes_text(entry.bytes));
  if (!entry.purpose.empty()) text += fmt::format(" ({})", entry.purpose);
  return text;
}

std::string signature(const FlightEntry& entry) {
  return fmt::format("{}/{}/{}", entry.op, entry.dtype, entry.bytes);
}

std::string ranks_text(const std::vector<int>& ranks) {
  return fmt::format("{} {}", ranks.size() == 1 ? "rank" : "ranks", fmt::join(ranks, ", "));
}

const FlightEntry* find(const FlightDump& dump, uint64_t seq) {
  if (dump.entries.empty() || seq < dump.entries.front().seq || seq > dump.entries.back().seq) return nullptr;
  return &dump.entries[seq - dump.entries.front().seq];
}

using ByRank = std::map<int, const FlightDump*>;

// The first number at which the ranks that recorded it disagree, as a sentence; "" if none.
std::string divergence(const ByRank& ranks) {
  uint64_t first = 0, last = 0;
  for (const auto& [rank, dump] : ranks) {
    if (dump->entries.empty()) continue;
    first = std::max(first, dump->entries.front().seq);
    last = std::max(last, dump->entries.back().seq);
  }
  for (uint64_t seq = first; seq <= last; ++seq) {
    std::map<std::string, std::pair<std::vector<int>, const FlightEntry*>> kinds;
    for (const auto& [rank, dump] : ranks) {
      if (const FlightEntry* entry = find(*dump, seq)) {
        auto& kind = kinds[signature(*entry)];
        kind.first.push_back(rank);
        kind.second = entry;
      }
    }
    if (kinds.size() < 2) continue;
    std::vector<std::pair<std::vector<int>, const FlightEntry*>> sorted;
    for (auto& [key, kind] : kinds) sorted.push_back(kind);
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return a.first.size() < b.first.size(); });
    std::vector<std::string> parts;
    for (const auto& [which, entry] : sorted) {
      parts.push_back(fmt::format("{} issued {}", ranks_text(which), describe(*entry)));
    }
    return fmt::format("the ranks diverged at collective #{}: {}", seq, fmt::join(parts, "; "));
  }
  return "";
}

// Who waits for whom, when every rank issued the same collectives as far as each got.
std::string progress(const ByRank& ranks, const std::vector<int>& silent, int64_t dumped_us) {
  uint64_t newest = 0;
  const FlightEntry* newest_entry = nullptr;
  for (const auto& [rank, dump] : ranks) {
    if (!dump->entries.empty() && (!newest_entry || dump->entries.back().seq > newest)) {
      newest = dump->entries.back().seq;
      newest_entry = &dump->entries.back();
    }
  }
  if (!newest_entry) return "no rank recorded a collective";
  std::vector<int> waiting, behind, failed;
  for (const auto& [rank, dump] : ranks) {
    const FlightEntry* entry = find(*dump, newest);
    if (!entry) behind.push_back(rank);
    else if (entry->state == FlightEntry::State::kInFlight) waiting.push_back(rank);
    else if (entry->state == FlightEntry::State::kFailed) failed.push_back(rank);
  }
  const std::string what = fmt::format("collective #{}, {}", newest, describe(*newest_entry));
  std::vector<std::string> lines;
  if (!waiting.empty()) {
    lines.push_back(fmt::format("{} wait in {}, issued {:.1f} s before the dump", ranks_text(waiting),
                                what, (dumped_us - newest_entry->issued_us) / 1e6));
  }
  if (!failed.empty()) lines.push_back(fmt::format("{} saw {} fail", ranks_text(failed), what));
  for (int rank : behind) {
    const auto& entries = ranks.at(rank)->entries;
    lines.push_back(entries.empty()
                        ? fmt::format("rank {} is behind: it never issued #{} (it recorded no collective)", rank, newest)
                        : fmt::format("rank {} is behind: it never issued #{}; its last was #{}, {} ({})", rank,
                                      newest, entries.back().seq, describe(entries.back()),
                                      entries.back().state == FlightEntry::State::kInFlight ? "in flight" : "done"));
  }
  if (!silent.empty()) {
    lines.push_back(fmt::format("{} left no dump (stopped, killed or unreachable){}", ranks_text(silent),
                                waiting.empty() && failed.empty()
                                    ? ""
                                    : fmt::format(": collective #{} waited for {}", newest,
                                                  silent.size() == 1 ? "it" : "them")));
  }
  if (behind.empty() && silent.empty() && failed.empty() && !waiting.empty()) {
    lines.push_back("every rank issued it: the collective itself is stuck (network, GPU or a peer's host)");
  }
  if (lines.empty()) lines.push_back(fmt::format("every rank completed collective #{}; none is pending", newest));
  return fmt::format("{}", fmt::join(lines, "\n  "));
}

}  // namespace

std::vector<FlightDump> read_flight_dumps(const std::string& dir) {
  DIR* folder = ::opendir(dir.c_str());
  if (!folder) throw Error(Error::Kind::kIo, fmt::format("{}: cannot open the flight recorder folder", dir));
  std::vector<std::string> names;
  static const std::regex dump_name(R"(rank_\d+\.json)");
  while (const dirent* entry = ::readdir(folder)) {
    if (std::regex_match(entry->d_name, dump_name)) names.push_back(entry->d_name);
  }
  ::closedir(folder);
  std::sort(names.begin(), names.end());
  if (names.empty()) {
    throw Error(Error::Kind::kData, fmt::format("{}: no flight recorder dumps (rank_<N>.json)", dir));
  }
  std::vector<FlightDump> dumps;
  for (const auto& name : names) {
    const std::string path = dir + "/" + name;
    const auto text = read_whole_file(path);
    if (!text) throw Error(Error::Kind::kIo, fmt::format("{}: cannot read", path));
    dumps.push_back(flight_dump_from_json(*text, path));
  }
  return dumps;
}

std::string flight_report(const std::vector<FlightDump>& dumps) {
  if (dumps.empty()) return "no flight recorder dumps";
  const FlightDump& newest =
      *std::max_element(dumps.begin(), dumps.end(), [](const auto& a, const auto& b) { return a.dumped_us < b.dumped_us; });
  ByRank ranks;
  std::vector<int> skipped;
  for (const auto& dump : dumps) {
    const bool same_incident = dump.group == newest.group && newest.dumped_us - dump.dumped_us <= kIncidentWindowUs;
    if (same_incident && !ranks.count(dump.rank)) ranks[dump.rank] = &dump;
    else skipped.push_back(dump.id);
  }
  std::vector<int> silent;
  for (int rank = 0; rank < newest.world_size; ++rank) {
    if (!ranks.count(rank)) silent.push_back(rank);
  }
  // Why the lowest rank dumped: its error names the rank it lost, where a diagnosis could.
  const std::string& why = ranks.empty() ? newest.reason : ranks.begin()->second->reason;
  std::string report = fmt::format("flight recorder, {} of {} ranks of {} dumped ({}):\n  ", ranks.size(),
                                   newest.world_size, newest.group, why);
  const std::string diverged = divergence(ranks);
  report += diverged.empty() ? progress(ranks, silent, newest.dumped_us) : diverged;
  if (!skipped.empty()) {
    std::vector<std::string> files;
    for (int id : skipped) files.push_back(fmt::format("rank_{}.json", id));
    report += fmt::format("\n  (left out, from an earlier incident: {})", fmt::join(files, ", "));
  }
  return report;
}

std::string incident_report(const FlightDumpReceipt& receipt, std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  std::vector<FlightDump> incident;
  while (true) {
    incident.clear();
    try {
      for (auto& dump : read_flight_dumps(receipt.dir)) {
        if (dump.group == receipt.group && std::abs(dump.dumped_us - receipt.dumped_us) <= kIncidentWindowUs) {
          incident.push_back(std::move(dump));
        }
      }
    } catch (const std::exception&) {
      // A folder being written meanwhile: look again.
    }
    // A lower rank's dump is in: that rank reports, and this one need not wait.
    for (const auto& dump : incident) {
      if (dump.id < receipt.id) return "";
    }
    if (static_cast<int>(incident.size()) >= receipt.world_size || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (const auto& dump : incident) {
    if (dump.id < receipt.id) return "";  // a lower rank reports
  }
  return flight_report(incident);
}

std::string flight_epilogue(const FlightDumpReceipt& receipt, std::chrono::milliseconds wait) {
  const std::string report = incident_report(receipt, wait);
  return fmt::format("{}{}\nflight records: {} (trainrt flight {})", report.empty() ? "" : "\n", report,
                     receipt.dir, receipt.dir);
}

}  // namespace trainrt::dist
