// defines: Member, Generation, MembershipOptions, Membership, lost_key, alive_key, show_alive,
//          newest_generation, launcher_reports
//
// Who trains together, agreed through the rendezvous store, one generation after another. A
// process is known by its launch rank (RANK: its "id", stable for its replacement too); a
// generation is a set of ids, numbered in id order to give the ranks of that generation's
// communicator. Recovery from the replicas' memory (docs/RELIABILITY.md) moves to a new generation
// whenever a member is lost or a process arrives: the survivors after a failed collective, a
// replacement or a returning process on start.
//
// Store keys (under the job's scope, dist/rendezvous.h):
//   generation          the newest generation opened (an add() counter; absent: 0)
//   g<N>/arrived/<id>   an arrival at generation N, valued with the step whose state it holds
//                       ("-1": none, a fresh process)
//   g<N>/members        the decision: "id:step,id:step,...", the first proposal stored
//   lost/<id>           the launcher's word on a worker that exited: "replacing: WHY" or "gone: WHY"
//   alive/<id>          the wall-clock time (ms since the epoch) of the member's last sign of life,
//                       set every kAlivePeriod by its group's watcher thread (dist/replica_group.h)
//
// Note [one decision per generation]: a generation is opened by one compare-and-set of the counter
// (N-1 -> N) and decided by one compare-and-set of g<N>/members (absent -> a proposal): single store
// operations, so a process that dies while opening or deciding leaves nothing half done, and every
// process that reads g<N>/members reads the same members. A process that arrives after the decision is not in it and
// opens the next generation; the members learn of that at their next step boundary
// (newer_generation_opened) and move to it together, which is how a returning process joins.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <torch/csrc/distributed/c10d/Store.hpp>

namespace trainrt::dist {

struct Member {
  int id = 0;          // launch rank
  int64_t step = -1;   // the step whose state it holds; -1: none
};

struct Generation {
  int64_t number = 0;
  std::vector<Member> members;  // in id order: members[r] is rank r of this generation
  int rank = 0;                 // this process's rank in it
  std::vector<int> lost;        // ids that held state in the previous generation and do not now
  std::vector<int> joined;      // ids without state now (replacements, returning processes)
  double rendezvous_ms = 0;     // from entering it to its decision

  int world_size() const { return static_cast<int>(members.size()); }
  // The rank whose state is the newest (the lowest such rank), or -1 when no member holds state
  // (a fresh start, or every replica lost: the disk path).
  int source() const;
  int64_t newest_step() const;
};

struct MembershipOptions {
  int id = 0;
  int expected = 1;  // the launched world size: ids 0..expected-1
  // Generation 0 (the job's start) waits this long for every id, then fails naming the missing.
  std::chrono::milliseconds start_timeout{std::chrono::minutes(5)};
  // A later generation waits this long for ids a launcher is replacing or that were not members,
  // then goes on with those that arrived if they are at least `min_members`. (Members no launcher
  // reported are waited for 1.5 x start_timeout: they may be finishing a long step, or be held
  // up to one collective timeout by their own collective of the failed step.)
  std::chrono::milliseconds replace_timeout{std::chrono::seconds(30)};
  // ... except a member whose last sign of life (alive/<id>) is older than this: its host is gone
  // or cut off (a member held in a collective still shows life: its watcher thread beats).
  std::chrono::milliseconds silent_limit{std::chrono::seconds(3)};
  int min_members = 1;
};

// How often a member shows life, and the key it does so under.
constexpr std::chrono::milliseconds kAlivePeriod{500};
std::string alive_key(int id);
// Sets alive/<id> to now. Throws if the store does not answer.
void show_alive(c10d::Store& store, int id);

// The key a launcher sets when a worker exits: lost/<id>.
std::string lost_key(int id);

// The newest generation opened in the job's `store`.
int64_t newest_generation(c10d::Store& store);

// What launchers wrote of the exited ranks among `ids` (lost/<id>), e.g. "lost rank 1 (killed by
// signal 9 (SIGKILL), its launcher says)"; "" if nothing. Throws if the store does not answer.
std::string launcher_reports(c10d::Store& store, const std::vector<int>& ids);

class Membership {
 public:
  // `store` is scoped to the job (and is used from one thread at a time).
  Membership(c10::intrusive_ptr<c10d::Store> store, MembershipOptions options);

  // A process's first entry: generation 0 while it forms, else the next one (a replacement).
  Generation join();
  // Leaves `current` (a collective failed, or a newer generation was opened) for the next, holding
  // the state of `step`.
  Generation rejoin(const Generation& current, int64_t step);
  // Whether a generation newer than `current` was opened. One store read.
  bool newer_generation_opened(const Generation& current);

  const MembershipOptions& options() const { return options_; }

 private:
  int64_t newest_opened();
  // The generation after `number`, opened by this process or another (Note [one decision...]).
  int64_t open_after(int64_t number);
  // Arrives at generation `number` with `step` and waits for its decision; nullopt-like result
  // (empty members) when the decision left this process out.
  Generation enter(int64_t number, int64_t step);
  // Waits (from `start`, having arrived) until generation `number` is decided, deciding it when
  // everyone awaited has arrived or the wait is over.
  void await_decision(int64_t number, std::chrono::steady_clock::time_point start,
                      const std::vector<Member>& previous);
  // Proposes generation `number`'s members (those arrived); the first proposal stands.
  void decide(int64_t number);
  std::vector<Member> newest_decided_before(int64_t number);
  bool decided(int64_t number);
  std::vector<Member> read_members(int64_t number);

  c10::intrusive_ptr<c10d::Store> store_;
  MembershipOptions options_;
};

}  // namespace trainrt::dist
