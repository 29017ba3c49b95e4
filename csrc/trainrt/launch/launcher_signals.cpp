#include "trainrt/launch/launcher_signals.h"

#include <signal.h>

#include <atomic>
#include <iterator>

namespace trainrt::launch {
namespace {

std::atomic<int> g_stop_signal{0};
std::atomic<unsigned> g_passed_on{0};  // one bit per kind: kPassedOn's index
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<unsigned>::is_always_lock_free,
              "set from a signal handler");

constexpr int kPassedOn[] = {SIGUSR1, SIGUSR2};

void remember_stop(int signal) { g_stop_signal = signal; }

void remember_passed_on(int signal) {
  for (unsigned i = 0; i < std::size(kPassedOn); ++i) {
    if (kPassedOn[i] == signal) g_passed_on.fetch_or(1u << i);
  }
}

void install(int signal, void (*handler)(int)) {
  struct sigaction action {};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(signal, &action, nullptr);
}

}  // namespace

void catch_launcher_signals() {
  for (int signal : {SIGINT, SIGTERM, SIGHUP}) install(signal, remember_stop);
  for (int signal : kPassedOn) install(signal, remember_passed_on);
}

int stop_signal() { return g_stop_signal.load(); }

int signal_for_workers(int received) { return received == SIGHUP ? SIGTERM : received; }

std::vector<int> take_passed_on_signals() {
  const unsigned pending = g_passed_on.exchange(0);
  std::vector<int> signals;
  for (unsigned i = 0; i < std::size(kPassedOn); ++i) {
    if (pending & (1u << i)) signals.push_back(kPassedOn[i]);
  }
  return signals;
}

}  // namespace trainrt::launch
