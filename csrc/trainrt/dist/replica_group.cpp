#include "trainrt/dist/replica_group.h"

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>

#include "trainrt/core/error.h"
#include "trainrt/core/fault_injection.h"
#include "trainrt/dist/connect.h"
#include "trainrt/dist/rendezvous.h"

namespace trainrt::dist {
namespace {

// How often the watcher looks for a newer generation: a returning process waits at most about
// this long, plus a step, to be let in.
constexpr auto kWatchPeriod = std::chrono::milliseconds(100);

// What the launchers said of the members that exited, read at once: the survivors' recovery names
// the lost ranks anyway, so nothing waits here.
std::function<std::string()> launcher_diagnosis(c10::intrusive_ptr<c10d::Store> store,
                                                const std::vector<Member>& members) {
  std::vector<int> ids;
  for (const auto& member : members) ids.push_back(member.id);
  return [store = std::move(store), ids = std::move(ids)] {
    try {
      return launcher_reports(*store, ids);
    } catch (const std::exception&) {
      return std::string("the rendezvous store no longer answers: its host is gone");
    }
  };
}

}  // namespace

std::shared_ptr<ReplicaGroup> ReplicaGroup::join(const WorkerIdentity& identity,
                                                 const config::DistributedConfig& config, bool cuda,
                                                 const std::string& flight_dir) {
  return std::shared_ptr<ReplicaGroup>(new ReplicaGroup(identity, config, cuda, flight_dir));
}

ReplicaGroup::ReplicaGroup(WorkerIdentity identity, config::DistributedConfig config, bool cuda,
                           std::string flight_dir)
    : identity_(std::move(identity)), config_(std::move(config)), cuda_(cuda), flight_dir_(std::move(flight_dir)) {
  if (identity_.recovery != "memory") {
    communicator_ = connect(identity_, config_, cuda_, flight_dir_);
    for (int rank = 0; rank < identity_.world_size; ++rank) generation_.members.push_back({rank, -1});
    generation_.rank = identity_.rank;
    return;
  }
  const auto timeout = collective_timeout(config_);
  store_ = open_job_store(identity_, timeout);
  MembershipOptions options;
  options.id = identity_.rank;
  options.expected = identity_.world_size;
  options.start_timeout = timeout;
  options.replace_timeout = std::chrono::milliseconds(
      static_cast<int64_t>(config_.replace_timeout_seconds() * 1000.0));
  // The config's limit, else the launcher's (--nnodes MIN:MAX), else the launched world size.
  options.min_members = config_.min_world_size() > 0   ? config_.min_world_size()
                        : identity_.min_world_size > 0 ? identity_.min_world_size
                                                       : identity_.world_size;
  membership_ = std::make_unique<Membership>(store_, options);
  generation_ = membership_->join();
  build_communicator();
  watcher_.start([this] { watch(); });
}

ReplicaGroup::~ReplicaGroup() { watcher_.stop(); }

void ReplicaGroup::build_communicator() {
  // Each generation's collectives rendezvous under keys of their own.
  auto store = c10::make_intrusive<c10d::PrefixStore>(fmt::format("g{}/pg/", generation_.number), store_);
  Supervision supervision;
  supervision.flight = make_flight_recorder(identity_, flight_dir_, generation_.rank, generation_.world_size(),
                                            fmt::format("generation {}", generation_.number));
  supervision.watchdog = make_watchdog(identity_, collective_timeout(config_), supervision.flight);
  supervision.diagnose = launcher_diagnosis(store_, generation_.members);
  communicator_ = make_communicator(identity_, config_, cuda_, store, generation_.rank,
                                    generation_.world_size(), std::move(supervision));
  fault_injection::set_incarnation(generation_.number);
}

void ReplicaGroup::rejoin(int64_t step) {
  if (!membership_) {
    throw Error(Error::Kind::kInternal, "ReplicaGroup::rejoin: recovery is not from memory");
  }
  // Dropped first: a peer still waiting on this process's connections fails at once.
  communicator_.reset();
  generation_ = membership_->rejoin(generation_, step);
  build_communicator();
}

void ReplicaGroup::watch() {
  // A store connection of its own: c10d's clients are not shared across threads.
  c10::intrusive_ptr<c10d::Store> store;
  try {
    store = connect_to_store(identity_, collective_timeout(config_));
  } catch (const std::exception&) {
    return;  // the training thread's next store request reports it
  }
  auto next_sign_of_life = std::chrono::steady_clock::now();
  do {
    try {
      newest_seen_.store(newest_generation(*store));
      // While this process lives, even held in a collective, the others' membership waits for it
      // (dist/membership.h, alive/<id>).
      if (std::chrono::steady_clock::now() >= next_sign_of_life) {
        show_alive(*store, identity_.rank);
        next_sign_of_life = std::chrono::steady_clock::now() + kAlivePeriod;
      }
    } catch (const std::exception&) {
      // The store's host is gone: the next collective or rendezvous says so.
    }
  } while (watcher_.wait_for(kWatchPeriod));
}

}  // namespace trainrt::dist
