// defines: Heartbeat
//
// How a rank tells which peer it lost. Gloo reports a failed collective as "connection closed by
// peer <address>", which names no rank; `trainrt launch` writes the rank of a worker that exited
// into the store (read first, at once), and every rank bumps a counter in the rendezvous store once
// a period, so that otherwise the survivors look for the counters that stopped. Uses a
// store connection of its own (c10d's store clients are not meant to be shared across threads).
//
// Note [heartbeat store calls]: only the heartbeat's thread calls the store, and never with
// mutex_ held. diagnose() asks the thread for a diagnosis and waits for it, but no longer than
// the store stays silent: when the store's last call failed, or one has been in flight for the
// store's own timeout, the store is reported lost at once. (A store call under the mutex held
// diagnose() behind the thread's blocked call and then blocked it once more: in a partition the
// error came after about 3x distributed.timeout_seconds.)
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <torch/csrc/distributed/c10d/Store.hpp>

namespace trainrt::dist {

class Heartbeat {
 public:
  Heartbeat(c10::intrusive_ptr<c10d::Store> store, int rank, int world_size,
            std::chrono::milliseconds period = std::chrono::milliseconds(500));
  // Stops the thread and waits for it a few periods at most: one blocked in a call to a store that
  // never answers (LibTorch 1.13's client has no timeout for it) is left to end with the process,
  // holding what it uses, rather than hold up a process that is ending after the failure.
  ~Heartbeat();
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

  // Watches the counters for a few periods and says which ranks stopped, e.g. "lost rank 3 (no
  // heartbeat for 1.5 s)"; or that the store itself stopped answering (its host, rank 0 unless a
  // launcher hosts it, is gone), as soon as it is silent for its own timeout. "" when every rank
  // is still beating.
  std::string diagnose();

 private:
  class Beat;  // the state the thread shares (heartbeat.cpp)
  std::shared_ptr<Beat> beat_;
  std::thread thread_;
};

}  // namespace trainrt::dist
