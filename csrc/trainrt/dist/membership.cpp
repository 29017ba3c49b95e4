#include "trainrt/dist/membership.h"

#include <algorithm>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "trainrt/core/error.h"

namespace trainrt::dist {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kGenerationKey = "generation";
constexpr auto kPoll = std::chrono::milliseconds(2);

std::string key(int64_t generation, const std::string& what) {
  return fmt::format("g{}/{}", generation, what);
}

std::string arrived_key(int64_t generation, int id) {
  return key(generation, fmt::format("arrived/{}", id));
}

std::vector<uint8_t> bytes(const std::string& text) { return {text.begin(), text.end()}; }

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string text(const std::vector<uint8_t>& value) { return {value.begin(), value.end()}; }

std::string members_text(const std::vector<Member>& members) {
  std::string out;
  for (const auto& member : members) {
    out += fmt::format("{}{}:{}", out.empty() ? "" : ",", member.id, member.step);
  }
  return out;
}

std::vector<Member> parse_members(const std::string& value) {
  std::vector<Member> members;
  std::istringstream entries(value);
  std::string entry;
  while (std::getline(entries, entry, ',')) {
    Member member;
    if (std::sscanf(entry.c_str(), "%d:%ld", &member.id, &member.step) != 2) {
      throw Error(Error::Kind::kInternal, fmt::format("membership: malformed member '{}'", entry));
    }
    members.push_back(member);
  }
  return members;
}

std::vector<int> ids(const std::vector<Member>& members) {
  std::vector<int> out;
  for (const auto& member : members) out.push_back(member.id);
  return out;
}

// Who was lost and who joined, against `previous` (the newest decided generation before).
void record_changes(const std::vector<Member>& previous, Generation& generation) {
  for (const auto& member : generation.members) {
    if (member.step < 0) generation.joined.push_back(member.id);
  }
  for (const auto& before : previous) {
    const bool kept = std::any_of(generation.members.begin(), generation.members.end(),
                                  [&](const Member& m) { return m.id == before.id && m.step >= 0; });
    if (!kept) generation.lost.push_back(before.id);
  }
}

}  // namespace

std::string lost_key(int id) { return fmt::format("lost/{}", id); }

int64_t newest_generation(c10d::Store& store) { return store.add(kGenerationKey, 0); }

std::string launcher_reports(c10d::Store& store, const std::vector<int>& ids) {
  std::string said;
  for (const int id : ids) {
    if (!store.check({lost_key(id)})) continue;
    std::string why = text(store.get(lost_key(id)));  // "replacing: WHY" or "gone: WHY"
    if (const auto colon = why.find(": "); colon != std::string::npos) why = why.substr(colon + 2);
    said += fmt::format("{}lost rank {} ({}, its launcher says)", said.empty() ? "" : ", ", id, why);
  }
  return said;
}

int Generation::source() const {
  int best = -1;
  for (int r = 0; r < world_size(); ++r) {
    if (members[r].step >= 0 && (best < 0 || members[r].step > members[best].step)) best = r;
  }
  return best;
}

int64_t Generation::newest_step() const {
  const int r = source();
  return r < 0 ? -1 : members[r].step;
}

Membership::Membership(c10::intrusive_ptr<c10d::Store> store, MembershipOptions options)
    : store_(std::move(store)), options_(options) {}

int64_t Membership::newest_opened() { return newest_generation(*store_); }

bool Membership::decided(int64_t number) { return store_->check({key(number, "members")}); }

std::vector<Member> Membership::read_members(int64_t number) {
  return parse_members(text(store_->get(key(number, "members"))));
}

std::vector<Member> Membership::newest_decided_before(int64_t number) {
  for (int64_t earlier = number - 1; earlier >= 0; --earlier) {
    if (decided(earlier)) return read_members(earlier);
  }
  return {};
}

bool Membership::newer_generation_opened(const Generation& current) {
  return newest_opened() > current.number;
}

int64_t Membership::open_after(int64_t number) {
  // Note [one decision per generation]: one compare-and-set moves the counter from `number`, so
  // however many ask, and whoever dies while asking, it moves once.
  newest_opened();  // the counter exists from here on (add creates it)
  store_->compareSet(kGenerationKey, bytes(std::to_string(number)), bytes(std::to_string(number + 1)));
  return newest_opened();
}

Generation Membership::join() {
  int64_t number = newest_opened();
  // A running job (its newest generation decided): this process is a replacement or returns.
  if (decided(number)) number = open_after(number);
  while (true) {
    Generation generation = enter(number, -1);
    if (!generation.members.empty()) return generation;
    number = open_after(number);
  }
}

Generation Membership::rejoin(const Generation& current, int64_t step) {
  int64_t number = open_after(current.number);
  while (true) {
    Generation generation = enter(number, step);
    if (!generation.members.empty()) return generation;
    number = open_after(number);
  }
}

void Membership::decide(int64_t number) {
  std::vector<Member> members;
  for (int id = 0; id < options_.expected; ++id) {
    if (!store_->check({arrived_key(number, id)})) continue;
    members.push_back({id, std::stoll(text(store_->get(arrived_key(number, id))))});
  }
  // Note [one decision per generation]: the first proposal stored wins, in one store operation;
  // the others read it.
  store_->compareSet(key(number, "members"), {}, bytes(members_text(members)));
}

void Membership::await_decision(int64_t number, std::chrono::steady_clock::time_point start,
                                const std::vector<Member>& previous) {
  std::vector<std::string> all_keys;
  for (int id = 0; id < options_.expected; ++id) all_keys.push_back(arrived_key(number, id));
  // Whom to wait for, and how long. At the start every launched worker must arrive (start_timeout).
  // Later, an id a launcher reported gone is not waited for; one it is replacing, or one that was
  // not a member, for replace_timeout (a replacement that does not come); a member no launcher
  // spoke of, for one and a half start_timeout (the collective timeout: it may be finishing a long
  // step, or be held that long by its own collective of the failed step before it can come),
  // unless it has shown no sign of life for silent_limit: then it is gone (its host died or was cut
  // off), and waiting longer only holds the survivors.
  enum class Wait { kNone, kShort, kLong };
  // No sign of life for silent_limit (wall clocks of the job's hosts agree to well under that); a
  // member that never showed any is waited for as before.
  auto silent = [&](int id) {
    if (!store_->check({alive_key(id)})) return false;
    const int64_t last = std::stoll(text(store_->get(alive_key(id))));
    return wall_ms() - last > options_.silent_limit.count();
  };
  auto wait_for = [&](int id) {
    if (store_->check({arrived_key(number, id)})) return Wait::kNone;
    if (number == 0) return Wait::kLong;
    if (store_->check({lost_key(id)})) {
      return text(store_->get(lost_key(id))).rfind("gone", 0) == 0 ? Wait::kNone : Wait::kShort;
    }
    const bool was_member = std::any_of(previous.begin(), previous.end(), [&](const Member& m) { return m.id == id; });
    if (!was_member) return Wait::kShort;
    return silent(id) ? Wait::kNone : Wait::kLong;
  };
  const auto short_deadline = start + options_.replace_timeout;
  const auto long_deadline = start + (number == 0 ? options_.start_timeout : options_.start_timeout * 3 / 2);
  auto next_detailed_check = start;
  while (!decided(number)) {
    // One store request answers the common case (all arrived); the per-id look is rarer.
    bool complete = store_->check(all_keys);
    bool timed_out = false;
    const auto now = Clock::now();
    std::vector<int> missing;
    if (!complete && (now >= next_detailed_check || now >= short_deadline)) {
      bool any_long = false;
      for (int id = 0; id < options_.expected; ++id) {
        const Wait wait = wait_for(id);
        if (wait == Wait::kNone) continue;
        missing.push_back(id);
        any_long |= wait == Wait::kLong;
      }
      complete = missing.empty();
      timed_out = now >= long_deadline || (!any_long && now >= short_deadline);
      next_detailed_check = now + std::chrono::milliseconds(50);
    }
    if (complete || timed_out) {
      if (!complete && number == 0) {
        throw Error(Error::Kind::kDistributed,
                    fmt::format("rank {}: rendezvous timed out after {} s: rank{} {} of {} did not "
                                "arrive; check that every worker was started and sees the same "
                                "MASTER_ADDR, MASTER_PORT and WORLD_SIZE",
                                options_.id, options_.start_timeout.count() / 1000.0,
                                missing.size() == 1 ? "" : "s", fmt::join(missing, ", "),
                                options_.expected));
      }
      decide(number);
      break;
    }
    std::this_thread::sleep_for(kPoll);
  }
}

std::string alive_key(int id) { return fmt::format("alive/{}", id); }

void show_alive(c10d::Store& store, int id) { store.set(alive_key(id), bytes(std::to_string(wall_ms()))); }

Generation Membership::enter(int64_t number, int64_t step) {
  const auto start = Clock::now();
  store_->set(arrived_key(number, options_.id), bytes(std::to_string(step)));
  if (number > 0) store_->deleteKey(lost_key(options_.id));  // here again: no longer lost
  const std::vector<Member> previous = number > 0 ? newest_decided_before(number) : std::vector<Member>{};
  await_decision(number, start, previous);

  Generation generation;
  generation.number = number;
  generation.members = read_members(number);
  generation.rendezvous_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  const auto me = std::find_if(generation.members.begin(), generation.members.end(),
                               [&](const Member& m) { return m.id == options_.id; });
  if (me == generation.members.end()) return Generation{};  // decided without this process
  generation.rank = static_cast<int>(me - generation.members.begin());
  if (number == 0) return generation;
  record_changes(previous, generation);
  if (generation.world_size() < options_.min_members) {
    // kConfig, not kDistributed: the job's own limit, which no further recovery can meet.
    throw Error(Error::Kind::kConfig,
                fmt::format("rank id {}: generation {} has {} rank{} (ids {}) after losing id{} {} "
                            "and no replacement arrived within distributed.replace_timeout_seconds; "
                            "training needs at least {} (distributed.min_world_size)",
                            options_.id, number, generation.world_size(),
                            generation.world_size() == 1 ? "" : "s",
                            fmt::join(ids(generation.members), ", "),
                            generation.lost.size() == 1 ? "" : "s", fmt::join(generation.lost, ", "),
                            options_.min_members));
  }
  return generation;
}

}  // namespace trainrt::dist
