#include "trainrt/train/stop_signals.h"

#include <signal.h>

#include <atomic>

namespace trainrt::train {
namespace {

std::atomic<int> received{0};
static_assert(std::atomic<int>::is_always_lock_free, "set from a signal handler");

void on_stop_signal(int signal) {
  received.store(signal);
  ::signal(signal, SIG_DFL);  // the next one ends the process
}

}  // namespace

void catch_stop_signals() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

int stop_signal() { return received.load(); }

}  // namespace trainrt::train
