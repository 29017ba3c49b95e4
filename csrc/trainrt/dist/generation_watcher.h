// defines: GenerationWatcher
//
// The thread beside a replica group (dist/replica_group.h) that watches the job's store: the
// newest generation opened (a returning process waits there to be let in) and this member's sign
// of life (alive/<id>, dist/membership.h). Its store calls can block for as long as the store's
// host is silent - LibTorch 1.13's client has no timeout for them, and a cut link held a process's
// exit for minutes - so it never holds up its owner: the state it writes is shared with it, and a
// thread still blocked in the store when the watcher is destroyed is left to end with the process.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>

#include "trainrt/core/mutex.h"
#include "trainrt/core/thread_annotations.h"
#include "trainrt/dist/worker_env.h"

namespace trainrt::dist {

class GenerationWatcher {
 public:
  // How often it looks: a returning process waits at most about this long, plus a step, to be let in.
  static constexpr std::chrono::milliseconds kPeriod{100};

  // Watches the store `identity` names (its own connection: c10d's clients are not shared across
  // threads), whose requests give up after `timeout` where the client can.
  GenerationWatcher(const WorkerIdentity& identity, std::chrono::milliseconds timeout);
  ~GenerationWatcher();
  GenerationWatcher(const GenerationWatcher&) = delete;
  GenerationWatcher& operator=(const GenerationWatcher&) = delete;

  // The newest generation it saw opened (0 until it looked).
  int64_t newest_seen() const { return shared_->newest_seen.load(); }
  // How long the store has not answered its looks (0 while it answers).
  std::chrono::milliseconds store_silent_for() const;

 private:
  struct Shared {
    std::atomic<int64_t> newest_seen{0};
    std::atomic<int64_t> last_answer_ms;  // steady clock
    Mutex mutex;
    CondVar changed;
    bool stop GUARDED_BY(mutex) = false;
    bool finished GUARDED_BY(mutex) = false;
  };
  static void run(const std::shared_ptr<Shared>& shared, const WorkerIdentity& identity,
                  std::chrono::milliseconds timeout);

  std::shared_ptr<Shared> shared_;
  std::thread thread_;
};

}  // namespace trainrt::dist
