#include "flight_command.h"

#include <sys/stat.h>

#include <iostream>

#include <fmt/format.h>

#include "trainrt/dist/flight_report.h"

namespace trainrt::trainers {
namespace {

bool is_directory(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

const char* state_text(dist::FlightEntry::State state) {
  switch (state) {
    case dist::FlightEntry::State::kCompleted: return "completed";
    case dist::FlightEntry::State::kFailed: return "FAILED";
    case dist::FlightEntry::State::kInFlight: break;
  }
  return "IN FLIGHT";
}

}  // namespace

int flight_command(const std::string& run_dir, int last) {
  // A run directory, or its flight folder itself.
  const std::string dir = is_directory(run_dir + "/flight") ? run_dir + "/flight" : run_dir;
  const auto dumps = dist::read_flight_dumps(dir);
  std::cout << dist::flight_report(dumps) << "\n";
  for (const auto& dump : dumps) {
    std::cout << fmt::format("\nrank {} of {} ({}, file rank_{}.json), dumped for: {}\n", dump.rank,
                             dump.world_size, dump.group, dump.id, dump.reason);
    const size_t first = dump.entries.size() > static_cast<size_t>(last) ? dump.entries.size() - last : 0;
    for (size_t i = first; i < dump.entries.size(); ++i) {
      const auto& entry = dump.entries[i];
      const double ms = entry.completed_us > 0 ? (entry.completed_us - entry.issued_us) / 1000.0 : 0.0;
      std::cout << fmt::format("  #{:<6} {:<14} {:<8} {:>12} B  {:<9} {}{}\n", entry.seq, entry.op, entry.dtype,
                               entry.bytes, state_text(entry.state),
                               entry.completed_us > 0 ? fmt::format("{:.3f} ms", ms) : std::string("-"),
                               entry.purpose.empty() ? "" : "  " + entry.purpose);
    }
  }
  return 0;
}

}  // namespace trainrt::trainers
