// defines: ReplicaGroup
//
// The data-parallel group this process trains in, across the generations of its membership
// (dist/membership.h). With recovery "restart" (WorkerIdentity::recovery) it is one communicator
// for the process's life: a lost rank fails the job, and the launcher restarts every worker from
// the newest checkpoint. With "memory" (`trainrt launch`'s default) a lost rank moves the others to
// a new generation: rejoin() drops the broken communicator (NCCL's communicators are aborted by
// its destruction), meets the replacement or returning processes in the store, and builds the new
// generation's communicator; the trainer then hands its state over (train/replica_sync.h).
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include <torch/csrc/distributed/c10d/Store.hpp>

#include "trainrt/config/trainrt.pb.h"
#include "trainrt/dist/communicator.h"
#include "trainrt/dist/flight_recorder.h"
#include "trainrt/dist/generation_watcher.h"
#include "trainrt/dist/membership.h"
#include "trainrt/dist/worker_env.h"

namespace trainrt::dist {

class ReplicaGroup {
 public:
  // Joins the job `identity` describes (world_size > 1): the first generation, or, for a
  // replacement, the next one. Throws trainrt::Error (kConfig for a backend not built,
  // kDistributed when the rendezvous fails). Each generation's flight recorder dumps into
  // `flight_dir` ("": kept in memory).
  static std::shared_ptr<ReplicaGroup> join(const WorkerIdentity& identity,
                                            const config::DistributedConfig& config, bool cuda,
                                            const std::string& flight_dir = "");
  ~ReplicaGroup();
  ReplicaGroup(const ReplicaGroup&) = delete;
  ReplicaGroup& operator=(const ReplicaGroup&) = delete;

  const std::shared_ptr<Communicator>& communicator() const { return communicator_; }
  const Generation& generation() const { return generation_; }
  bool recovers_in_memory() const { return membership_ != nullptr; }
  // The world size the job was launched with; generations may have fewer ranks.
  int launched_world_size() const { return identity_.world_size; }

  // Whether a process is waiting to join (a newer generation was opened). Set by a thread that
  // watches the store; costs nothing to ask.
  bool newer_generation_opened() const {
    return watcher_ && watcher_->newest_seen() > generation_.number;
  }

  // Drops this generation's communicator and joins the next, holding the state of `step`; builds
  // its communicator. Memory recovery only.
  void rejoin(int64_t step);

 private:
  ReplicaGroup(WorkerIdentity identity, config::DistributedConfig config, bool cuda, std::string flight_dir);
  void build_communicator();

  const WorkerIdentity identity_;
  const config::DistributedConfig config_;
  const bool cuda_;
  const std::string flight_dir_;
  c10::intrusive_ptr<c10d::Store> store_;       // the job's scope; this (training) thread's
  std::unique_ptr<Membership> membership_;      // memory recovery only
  Generation generation_;
  std::shared_ptr<Communicator> communicator_;
  // This generation's flight recorder, kept while the next forms: a dump asked for then (SIGUSR1
  // from the launcher that saw a rank lost) shows what the lost generation was doing.
  std::shared_ptr<FlightRecorder> flight_;
  std::shared_ptr<GenerationWatcher> watcher_;  // memory recovery only (shared with diagnoses)
};

}  // namespace trainrt::dist
