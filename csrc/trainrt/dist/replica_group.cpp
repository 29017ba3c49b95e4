#include "trainrt/dist/replica_group.h"

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>

#include "trainrt/core/error.h"
#include "trainrt/core/fault_injection.h"
#include "trainrt/dist/connect.h"
#include "trainrt/dist/rendezvous.h"

namespace trainrt::dist {
namespace {

// What the launchers said of the members that exited, read at once: the survivors' recovery names
// the lost ranks anyway, so nothing waits here.
std::function<std::string()> launcher_diagnosis(c10::intrusive_ptr<c10d::Store> store,
                                                const std::vector<Member>& members,
                                                std::shared_ptr<GenerationWatcher> watcher,
                                                std::chrono::milliseconds silent_limit) {
  std::vector<int> ids;
  for (const auto& member : members) ids.push_back(member.id);
  return [store = std::move(store), ids = std::move(ids), watcher = std::move(watcher), silent_limit] {
    // A store that stopped answering would make each request wait out its timeout first.
    const auto silent = watcher ? watcher->store_silent_for() : std::chrono::milliseconds(0);
    if (silent >= silent_limit) {
      return fmt::format("the rendezvous store has not answered for {:.1f} s: its host is gone or "
                         "this node is cut off", silent.count() / 1000.0);
    }
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
  watcher_ = std::make_shared<GenerationWatcher>(identity_, timeout);
  build_communicator();
}

ReplicaGroup::~ReplicaGroup() = default;

void ReplicaGroup::build_communicator() {
  // Each generation's collectives rendezvous under keys of their own.
  auto store = c10::make_intrusive<c10d::PrefixStore>(fmt::format("g{}/pg/", generation_.number), store_);
  Supervision supervision;
  flight_ = make_flight_recorder(identity_, flight_dir_, generation_.rank, generation_.world_size(),
                                fmt::format("generation {}", generation_.number));
  supervision.flight = flight_;
  supervision.watchdog = make_watchdog(identity_, collective_timeout(config_), supervision.flight);
  supervision.diagnose = launcher_diagnosis(store_, generation_.members, watcher_,
                                            membership_->options().silent_limit);
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
  // Cut off from the store (a lost link, its host gone): no generation can be agreed, and the
  // store's own requests would each wait out their timeout before saying so.
  const auto silent = watcher_->store_silent_for();
  if (silent >= membership_->options().silent_limit) {
    throw Error(Error::Kind::kDistributed,
                fmt::format("rank id {}: cut off from the job: the rendezvous store at {}:{} (node 0) has "
                            "not answered for {:.1f} s, so this process cannot rejoin; the others go on "
                            "without it",
                            identity_.rank, identity_.master_addr, identity_.master_port, silent.count() / 1000.0));
  }
  generation_ = membership_->rejoin(generation_, step);
  build_communicator();
}


}  // namespace trainrt::dist
