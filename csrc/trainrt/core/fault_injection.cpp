#include "trainrt/core/fault_injection.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "trainrt/core/error.h"

namespace trainrt::fault_injection {
namespace {

struct Fault {
  std::string point;
  int64_t step = 0;
  int rank = 0;
};

std::atomic<int64_t> current_step{0};
std::atomic<int64_t> incarnation_set{-1};  // -1: TORCHELASTIC_RESTART_COUNT's

int64_t env_integer(const char* name) {
  const char* value = std::getenv(name);
  return value ? std::strtoll(value, nullptr, 10) : 0;
}

// TRAINRT_FAULT's entries, checked once.
std::vector<Fault> parse_faults() {
  std::vector<Fault> faults;
  const char* text = std::getenv("TRAINRT_FAULT");
  if (text == nullptr || *text == '\0') return faults;
  std::istringstream entries(text);
  std::string entry;
  for (int64_t i = 0; std::getline(entries, entry, ','); ++i) {
    Fault fault;
    char point[32] = {0};
    char end = 0;
    if (std::sscanf(entry.c_str(), "%31[a-z]:%ld:%d%c", point, &fault.step, &fault.rank, &end) != 3 ||
        (std::string(point) != "forward" && std::string(point) != "allreduce" &&
         std::string(point) != "checkpoint" && std::string(point) != "transfer" &&
         std::string(point) != "extra")) {
      throw ConfigError(fmt::format("TRAINRT_FAULT: entry {} '{}' is not POINT:STEP:RANK with POINT "
                                    "forward, allreduce, checkpoint, transfer or extra", i + 1, entry));
    }
    fault.point = point;
    faults.push_back(fault);
  }
  return faults;
}

// This incarnation's entry of TRAINRT_FAULT, if it has one.
const Fault* this_incarnations_fault() {
  static const std::vector<Fault> faults = parse_faults();
  if (faults.empty()) return nullptr;
  const int64_t set = incarnation_set.load(std::memory_order_relaxed);
  const int64_t incarnation = set >= 0 ? set : env_integer("TORCHELASTIC_RESTART_COUNT");
  return incarnation < static_cast<int64_t>(faults.size()) ? &faults[incarnation] : nullptr;
}

}  // namespace

void set_step(int64_t step) { current_step.store(step, std::memory_order_relaxed); }

void set_incarnation(int64_t incarnation) {
  incarnation_set.store(incarnation, std::memory_order_relaxed);
}

void point(const char* name) { point(name, current_step.load(std::memory_order_relaxed)); }

bool fires(const char* name) {
  const Fault* fault = this_incarnations_fault();
  return fault && fault->step == current_step.load(std::memory_order_relaxed) && fault->point == name &&
         fault->rank == env_integer("RANK");
}

void point(const char* name, int64_t step) {
  const Fault* fault = this_incarnations_fault();
  if (!fault || fault->step != step || fault->point != name || fault->rank != env_integer("RANK")) {
    return;
  }
  const std::string note = fmt::format("trainrt: TRAINRT_FAULT: SIGKILL at {}, step {}, rank {}\n",
                                       name, step, fault->rank);
  [[maybe_unused]] const auto written = ::write(STDERR_FILENO, note.data(), note.size());
  ::raise(SIGKILL);
}

}  // namespace trainrt::fault_injection
