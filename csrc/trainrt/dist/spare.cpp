#include "trainrt/dist/spare.h"

#include <cstdlib>
#include <thread>

#include <fmt/format.h>

#include "trainrt/core/error.h"
#include "trainrt/dist/rendezvous.h"

namespace trainrt::dist {

std::string spare_assignment_key(const std::string& name) { return "spare/" + name; }

WorkerIdentity await_assignment(WorkerIdentity identity, std::chrono::milliseconds store_timeout) {
  const std::string key = spare_assignment_key(identity.spare);
  std::string assignment;
  try {
    auto store = connect_to_store(identity, store_timeout);
    // Polled: a blocking wait would give up after the store's timeout, and a spare may wait for
    // the whole job.
    while (!store->check({key})) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const auto value = store->get(key);
    assignment.assign(value.begin(), value.end());
  } catch (const std::exception& e) {
    const std::string cause = e.what();
    throw Error(Error::Kind::kDistributed,
                fmt::format("spare {}: lost the rendezvous store while waiting for a rank: {}",
                            identity.spare, cause.substr(0, cause.find('\n'))));
  }
  if (std::sscanf(assignment.c_str(), "%d %d", &identity.rank, &identity.local_rank) != 2) {
    throw Error(Error::Kind::kInternal, fmt::format("spare {}: malformed assignment '{}'", identity.spare, assignment));
  }
  for (const char* name : {"RANK", "ROLE_RANK"}) setenv(name, std::to_string(identity.rank).c_str(), 1);
  setenv("LOCAL_RANK", std::to_string(identity.local_rank).c_str(), 1);
  identity.spare.clear();
  return identity;
}

}  // namespace trainrt::dist
