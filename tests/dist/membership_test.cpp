// Membership generations (dist/membership.h) over a real TCP store on loopback, each process of a
// job played by a thread with its own store client: who is in each generation, who was lost and
// who joined, which member holds the newest state, and what happens to a process that arrives
// late or never.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>

#include "dist/dist_test_util.h"
#include "trainrt/core/error.h"
#include "trainrt/dist/membership.h"

namespace trainrt::dist {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using trainrt::testing::free_port;
using trainrt::testing::host_loopback_store;
using trainrt::testing::loopback_store_client;
using namespace std::chrono_literals;

class MembershipTest : public ::testing::Test {
 protected:
  // Process `id` of a job of `expected`, with a store client of its own.
  Membership process(int id, int expected, std::chrono::milliseconds replace_timeout = 10s,
                     int min_members = 1, const std::string& scope = "job/") {
    MembershipOptions options;
    options.id = id;
    options.expected = expected;
    options.start_timeout = 10s;
    options.replace_timeout = replace_timeout;
    options.min_members = min_members;
    return Membership(c10::make_intrusive<c10d::PrefixStore>(scope, loopback_store_client(port_, 20s)),
                      options);
  }

  // What a launcher says of a worker that exited: "gone: ..." (not replaced) or "replacing: ...".
  void report(int id, const std::string& what) {
    c10d::PrefixStore("job/", server_).set(lost_key(id), std::vector<uint8_t>(what.begin(), what.end()));
  }
  void report_gone(int id) { report(id, "gone: killed"); }

  std::vector<int> ids(const Generation& generation) {
    std::vector<int> out;
    for (const auto& member : generation.members) out.push_back(member.id);
    return out;
  }

  // Every process of `expected` joins generation 0 at once.
  std::vector<Generation> start(std::vector<Membership>& processes) {
    std::vector<std::future<Generation>> joined;
    for (auto& p : processes) joined.push_back(std::async(std::launch::async, [&p] { return p.join(); }));
    std::vector<Generation> out;
    for (auto& j : joined) out.push_back(j.get());
    return out;
  }

  const int port_ = free_port();
  c10::intrusive_ptr<c10d::TCPStore> server_ = host_loopback_store(port_);
};

TEST_F(MembershipTest, TheFirstGenerationHasEveryProcessInIdOrderAndNoStateYet) {
  std::vector<Membership> processes;
  for (int id = 0; id < 3; ++id) processes.push_back(process(id, 3));
  const auto generations = start(processes);
  for (int id = 0; id < 3; ++id) {
    EXPECT_EQ(generations[id].number, 0);
    EXPECT_EQ(generations[id].rank, id);
    EXPECT_THAT(ids(generations[id]), ElementsAre(0, 1, 2));
    EXPECT_EQ(generations[id].source(), -1);  // a fresh start: nobody holds state
  }
}

TEST_F(MembershipTest, AProcessThatNeverArrivesAtTheStartIsNamed) {
  MembershipOptions options;
  options.id = 0;
  options.expected = 3;
  options.start_timeout = 300ms;
  Membership alone(c10::make_intrusive<c10d::PrefixStore>("job/", loopback_store_client(port_, 20s)),
                   options);
  try {
    alone.join();
    FAIL() << "joined without ranks 1 and 2";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kDistributed);
    EXPECT_THAT(e.what(), HasSubstr("ranks 1, 2 of 3 did not arrive"));
  }
}

TEST_F(MembershipTest, AReplacementAndTheSurvivorsMeetInTheNextGenerationWhicheverComesFirst) {
  for (const bool replacement_first : {true, false}) {
    SCOPED_TRACE(replacement_first ? "replacement first" : "survivors first");
    const std::string scope = replacement_first ? "a/" : "b/";
    std::vector<Membership> processes;
    for (int id = 0; id < 3; ++id) processes.push_back(process(id, 3, 10s, 1, scope));
    const auto first = start(processes);
    const int64_t number = first[0].number;
    Membership replacement = process(2, 3, 10s, 1, scope);  // id 2 died; a new process takes its place
    std::future<Generation> joined;
    if (replacement_first) joined = std::async(std::launch::async, [&] { return replacement.join(); });
    auto survivor0 = std::async(std::launch::async, [&] { return processes[0].rejoin(first[0], 7); });
    auto survivor1 = std::async(std::launch::async, [&] { return processes[1].rejoin(first[1], 7); });
    if (!replacement_first) {
      std::this_thread::sleep_for(100ms);
      joined = std::async(std::launch::async, [&] { return replacement.join(); });
    }
    const Generation a = survivor0.get(), b = survivor1.get(), c = joined.get();
    for (const auto* g : {&a, &b, &c}) {
      EXPECT_EQ(g->number, number + 1);
      EXPECT_THAT(ids(*g), ElementsAre(0, 1, 2));
      EXPECT_THAT(g->lost, ElementsAre(2));
      EXPECT_THAT(g->joined, ElementsAre(2));
      EXPECT_EQ(g->source(), 0);  // the lowest rank holding the newest state
      EXPECT_EQ(g->newest_step(), 7);
    }
    EXPECT_EQ(c.rank, 2);
  }
}

TEST_F(MembershipTest, TheNewestStateWinsWhenSurvivorsStoppedAtDifferentSteps) {
  std::vector<Membership> processes;
  for (int id = 0; id < 3; ++id) processes.push_back(process(id, 3));
  const auto first = start(processes);
  report_gone(0);
  // Rank 2's update of step 8 went through before rank 0 was lost; rank 1's did not.
  auto one = std::async(std::launch::async, [&] { return processes[1].rejoin(first[1], 7); });
  auto two = std::async(std::launch::async, [&] { return processes[2].rejoin(first[2], 8); });
  const Generation g = one.get();
  two.get();
  EXPECT_THAT(ids(g), ElementsAre(1, 2));
  EXPECT_EQ(g.source(), 1);  // rank 1 of this generation is id 2
  EXPECT_EQ(g.newest_step(), 8);
  EXPECT_THAT(g.lost, ElementsAre(0));
  EXPECT_TRUE(g.joined.empty());
}

TEST_F(MembershipTest, AMemberNoLauncherReportedIsWaitedForLongerThanAReplacement) {
  // Id 2 may be finishing a long step: replace_timeout (100 ms) does not leave it out.
  std::vector<Membership> processes;
  for (int id = 0; id < 3; ++id) processes.push_back(process(id, 3, 100ms));
  const auto first = start(processes);
  auto zero = std::async(std::launch::async, [&] { return processes[0].rejoin(first[0], 3); });
  auto one = std::async(std::launch::async, [&] { return processes[1].rejoin(first[1], 3); });
  std::this_thread::sleep_for(500ms);
  const Generation late = processes[2].rejoin(first[2], 3);
  EXPECT_THAT(ids(late), ElementsAre(0, 1, 2));
  EXPECT_THAT(ids(zero.get()), ElementsAre(0, 1, 2));
  one.get();
}

TEST_F(MembershipTest, AMemberSilentForLongerThanTheLimitIsNotWaitedForButOneShowingLifeIs) {
  // Ids 0 and 1 show life as their watchers do; id 2's last sign is 5 s old (its host was cut off).
  std::vector<Membership> processes;
  for (int id = 0; id < 3; ++id) processes.push_back(process(id, 3, 100ms));
  const auto first = start(processes);
  c10d::PrefixStore job("job/", server_);
  show_alive(job, 0);
  show_alive(job, 1);
  const auto stale = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch()).count() - 5000);
  job.set(alive_key(2), std::vector<uint8_t>(stale.begin(), stale.end()));
  const auto started = std::chrono::steady_clock::now();
  auto zero = std::async(std::launch::async, [&] { return processes[0].rejoin(first[0], 3); });
  const Generation g = processes[1].rejoin(first[1], 3);
  zero.get();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);  // not 1.5 x start_timeout (15 s)
  EXPECT_THAT(ids(g), ElementsAre(0, 1));
  EXPECT_THAT(g.lost, ElementsAre(2));

  // Id 1 alive (just showed life) but late: waited for, as before.
  show_alive(job, 1);
  auto zero_again = std::async(std::launch::async, [&] { return processes[0].rejoin(g, 4); });
  std::this_thread::sleep_for(500ms);
  EXPECT_THAT(ids(processes[1].rejoin(g, 4)), ElementsAre(0, 1));
  zero_again.get();
}

TEST_F(MembershipTest, ProcessesReportedGoneAreNotWaitedFor) {
  std::vector<Membership> processes;
  for (int id = 0; id < 3; ++id) processes.push_back(process(id, 3, /*replace_timeout=*/60s));
  const auto first = start(processes);
  report_gone(2);
  const auto started = std::chrono::steady_clock::now();
  auto zero = std::async(std::launch::async, [&] { return processes[0].rejoin(first[0], 3); });
  const Generation g = processes[1].rejoin(first[1], 3);
  zero.get();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);  // not replace_timeout's 60 s
  EXPECT_THAT(ids(g), ElementsAre(0, 1));
  EXPECT_THAT(g.lost, ElementsAre(2));
}

TEST_F(MembershipTest, TooFewLeftAfterTheReplaceTimeoutIsTheJobsLimitNotARetry) {
  std::vector<Membership> processes;
  for (int id = 0; id < 3; ++id) processes.push_back(process(id, 3, 200ms, /*min_members=*/3));
  const auto first = start(processes);
  report(2, "replacing: killed");  // a replacement that never comes
  auto zero = std::async(std::launch::async, [&] { return processes[0].rejoin(first[0], 3); });
  try {
    processes[1].rejoin(first[1], 3);
    FAIL() << "went on with 2 of at least 3";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kConfig);
    EXPECT_THAT(e.what(), HasSubstr("training needs at least 3 (distributed.min_world_size)"));
  }
  EXPECT_THROW(zero.get(), Error);
}

TEST_F(MembershipTest, ALateProcessOpensTheNextGenerationAndTheMembersTakeItIn) {
  std::vector<Membership> processes;
  for (int id = 0; id < 3; ++id) processes.push_back(process(id, 3, 200ms));
  const auto first = start(processes);
  // Id 2 is lost and its replacement late: the others go on without it after 200 ms.
  report(2, "replacing: killed");
  auto zero = std::async(std::launch::async, [&] { return processes[0].rejoin(first[0], 5); });
  const Generation shrunk = processes[1].rejoin(first[1], 5);
  const Generation shrunk0 = zero.get();
  EXPECT_THAT(ids(shrunk), ElementsAre(0, 1));
  EXPECT_FALSE(processes[0].newer_generation_opened(shrunk0));
  // It comes back: the generation it finds is decided, so it opens the next and waits there.
  Membership back = process(2, 3, 200ms);
  auto returned = std::async(std::launch::async, [&] { return back.join(); });
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!processes[0].newer_generation_opened(shrunk0) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(processes[0].newer_generation_opened(shrunk0));
  auto grown0 = std::async(std::launch::async, [&] { return processes[0].rejoin(shrunk0, 9); });
  const Generation grown = processes[1].rejoin(shrunk, 9);
  grown0.get();
  const Generation joined = returned.get();
  EXPECT_THAT(ids(grown), ElementsAre(0, 1, 2));
  EXPECT_THAT(grown.joined, ElementsAre(2));
  EXPECT_TRUE(grown.lost.empty());
  EXPECT_EQ(joined.number, grown.number);
  EXPECT_EQ(joined.rank, 2);
}

}  // namespace
}  // namespace trainrt::dist
