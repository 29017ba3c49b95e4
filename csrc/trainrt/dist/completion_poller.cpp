#include "trainrt/dist/completion_poller.h"

namespace trainrt::dist {

CompletionPoller::CompletionPoller() {
  thread_.start([this] { poll(); },
                [this] {
                  MutexLock lock(mutex_);
                  changed_.notify_all();
                });
}

CompletionPoller::~CompletionPoller() { thread_.stop(); }

void CompletionPoller::watch(std::function<bool()> is_complete, std::function<void()> on_complete) {
  MutexLock lock(mutex_);
  pending_.emplace_back(std::move(is_complete), std::move(on_complete));
  changed_.notify_all();
}

std::vector<CompletionPoller::Pending> CompletionPoller::take_completed() {
  std::vector<Pending> done;
  MutexLock lock(mutex_);
  for (auto it = pending_.begin(); it != pending_.end();) {
    bool complete = true;  // a query that throws (an aborted communicator) counts as complete
    try {
      complete = it->first();
    } catch (...) {
    }
    if (complete) {
      done.push_back(std::move(*it));
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  return done;
}

void CompletionPoller::poll() {
  while (!thread_.stop_requested()) {
    {
      MutexLock lock(mutex_);
      while (pending_.empty() && !thread_.stop_requested()) changed_.wait(lock);
    }
    for (auto& [query, callback] : take_completed()) callback();  // without the mutex
    thread_.wait_for(kInterval);
  }
}

}  // namespace trainrt::dist
