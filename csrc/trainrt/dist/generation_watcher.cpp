#include "trainrt/dist/generation_watcher.h"

#include "trainrt/dist/membership.h"
#include "trainrt/dist/rendezvous.h"

namespace trainrt::dist {
namespace {

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

GenerationWatcher::GenerationWatcher(const WorkerIdentity& identity, std::chrono::milliseconds timeout)
    : shared_(std::make_shared<Shared>()) {
  shared_->last_answer_ms.store(steady_ms());
  // The thread owns copies of all it uses, so that it may outlive this object.
  thread_ = std::thread([shared = shared_, identity, timeout] { run(shared, identity, timeout); });
}

GenerationWatcher::~GenerationWatcher() {
  bool finished = false;
  {
    MutexLock lock(shared_->mutex);
    shared_->stop = true;
    shared_->changed.notify_all();
    // A look takes milliseconds when the store answers; a thread blocked longer is left behind.
    const auto deadline = std::chrono::steady_clock::now() + 3 * kPeriod;
    while (!shared_->finished && shared_->changed.wait_until(lock, deadline)) {
    }
    finished = shared_->finished;
  }
  if (finished) {
    thread_.join();
  } else {
    thread_.detach();
  }
}

std::chrono::milliseconds GenerationWatcher::store_silent_for() const {
  // A look takes a store round trip; silence shorter than two periods is no silence.
  const int64_t silent = steady_ms() - shared_->last_answer_ms.load();
  return std::chrono::milliseconds(silent > 2 * kPeriod.count() ? silent : 0);
}

void GenerationWatcher::run(const std::shared_ptr<Shared>& shared, const WorkerIdentity& identity,
                            std::chrono::milliseconds timeout) {
  auto finish = [&] {
    MutexLock lock(shared->mutex);
    shared->finished = true;
    shared->changed.notify_all();
  };
  c10::intrusive_ptr<c10d::Store> store;
  try {
    store = connect_to_store(identity, timeout);
  } catch (const std::exception&) {
    finish();  // the training thread's next store request reports it
    return;
  }
  auto next_sign_of_life = std::chrono::steady_clock::now();
  while (true) {
    try {
      shared->newest_seen.store(newest_generation(*store));
      // While this process lives, even held in a collective, the others' membership waits for it.
      if (std::chrono::steady_clock::now() >= next_sign_of_life) {
        show_alive(*store, identity.rank);
        next_sign_of_life = std::chrono::steady_clock::now() + kAlivePeriod;
      }
      shared->last_answer_ms.store(steady_ms());
    } catch (const std::exception&) {
      // The store's host is gone: the next collective or rendezvous says so.
    }
    MutexLock lock(shared->mutex);
    const auto wake = std::chrono::steady_clock::now() + kPeriod;
    while (!shared->stop && shared->changed.wait_until(lock, wake)) {
    }
    if (shared->stop) break;
  }
  store.reset();  // before saying so: its connection closes with the thread's last act
  finish();
}

}  // namespace trainrt::dist
