#include "trainrt/dist/flight_signal.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <exception>
#include <cstdio>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "trainrt/dist/flight_recorder.h"
#include "trainrt/dist/flight_report.h"

namespace trainrt::dist {
namespace {

int wake_fds[2] = {-1, -1};  // the handler writes a byte to [1]; the dumping thread reads [0]

void on_signal(int) {
  const char byte = 1;
  [[maybe_unused]] const auto written = ::write(wake_fds[1], &byte, 1);  // async-signal-safe
}

void dump_on_each_signal() {
  char byte;
  while (::read(wake_fds[0], &byte, 1) == 1) {
    const auto paths = FlightRecorder::dump_all("SIGUSR1");
    if (paths.empty()) {
      std::fprintf(stderr, "trainrt: SIGUSR1: no collectives to dump (no data-parallel group yet)\n");
      continue;
    }
    std::fputs(fmt::format("trainrt: SIGUSR1: flight records written to {}\n", fmt::join(paths, ", ")).c_str(),
               stderr);
    // Then, from the lowest rank, the report once the others had a second to dump too.
    if (const auto receipt = last_flight_dump()) {
      const std::string report = incident_report(*receipt, std::chrono::seconds(1));
      if (!report.empty()) std::fputs(("trainrt: " + report + "\n").c_str(), stderr);
    }
  }
}

std::terminate_handler previous_terminate = nullptr;

void dump_then_terminate() {
  FlightRecorder::dump_all("std::terminate: an exception escaped a thread (e.g. a backend's)");
  if (previous_terminate) previous_terminate();  // libstdc++'s prints the exception, then aborts
  std::abort();
}

}  // namespace

void install_flight_dump_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    previous_terminate = std::set_terminate(dump_then_terminate);
    if (::pipe2(wake_fds, O_CLOEXEC) != 0) return;
    std::thread(dump_on_each_signal).detach();  // blocked in read() for the process's life
    struct sigaction action {};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &action, nullptr);
  });
}

}  // namespace trainrt::dist
