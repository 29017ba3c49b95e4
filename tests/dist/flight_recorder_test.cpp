// The collectives flight recorder (dist/flight_recorder.h), its report (dist/flight_report.h) and
// the completion poller (dist/completion_poller.h): the ring and its dumps on real files, the
// report as a pure function of hand-made dumps, and Gloo ranks (threads on loopback) whose
// collectives are recorded alike and whose completion is seen by polling, as NCCL's is.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "dist/dist_test_util.h"
#include "test_util.h"
#include "trainrt/dist/completion_poller.h"
#include "trainrt/dist/flight_recorder.h"
#include "trainrt/dist/flight_report.h"
#include "trainrt/dist/gloo_communicator.h"

namespace trainrt::dist {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using State = FlightEntry::State;

FlightEntry entry(uint64_t seq, const std::string& op, int64_t bytes, State state = State::kCompleted,
                  const std::string& purpose = "") {
  FlightEntry e;
  e.seq = seq;
  e.op = op;
  e.dtype = op == "barrier" ? "" : "float32";
  e.bytes = bytes;
  e.purpose = purpose;
  e.issued_us = 1'000'000 + static_cast<int64_t>(seq) * 1000;
  e.completed_us = state == State::kInFlight ? 0 : e.issued_us + 500;
  e.state = state;
  return e;
}

FlightDump dump_of(int rank, int world_size, std::vector<FlightEntry> entries, int64_t dumped_us = 21'000'000) {
  FlightDump dump;
  dump.id = dump.rank = rank;
  dump.world_size = world_size;
  dump.group = "generation 0";
  dump.reason = "watchdog";
  dump.dumped_us = dumped_us;
  dump.entries = std::move(entries);
  return dump;
}

// Collectives 0..n-1 of a step: buckets of 4 KiB, all completed.
std::vector<FlightEntry> completed_steps(uint64_t n) {
  std::vector<FlightEntry> entries;
  for (uint64_t seq = 0; seq < n; ++seq) entries.push_back(entry(seq, "all_reduce", 4096, State::kCompleted, "gradient bucket 0"));
  return entries;
}

TEST(FlightRecorder, NumbersCollectivesWithTheirPurposeAndKeepsTheLastOnesInARing) {
  FlightRecorder recorder("", 0, 0, 2, "generation 0", /*capacity=*/3);
  for (int i = 0; i < 5; ++i) {
    CollectivePurpose purpose("gradient bucket " + std::to_string(i));
    EXPECT_EQ(recorder.issued("all_reduce", "float32", 400 + i), static_cast<uint64_t>(i));
  }
  recorder.completed(3, true);
  recorder.completed(4, false);
  recorder.completed(4, true);  // the first report counts
  recorder.completed(0, true);  // fell out of the ring: ignored
  const auto dump = recorder.snapshot("test");
  ASSERT_EQ(dump.entries.size(), 3u);
  EXPECT_EQ(dump.entries[0].seq, 2u);
  EXPECT_EQ(dump.entries[0].purpose, "gradient bucket 2");
  EXPECT_EQ(dump.entries[0].state, State::kInFlight);
  EXPECT_EQ(dump.entries[1].state, State::kCompleted);
  EXPECT_GT(dump.entries[1].completed_us, 0);
  EXPECT_EQ(dump.entries[2].state, State::kFailed);
  EXPECT_EQ(dump.entries[2].bytes, 404);
  EXPECT_EQ(CollectivePurpose::current(), "");  // the scopes ended
}

TEST(FlightRecorder, DumpsToItsRankFileWhichReadsBackTheSame) {
  trainrt::testing::TempDir dir;
  FlightRecorder recorder(dir / "flight", /*id=*/3, /*rank=*/1, /*world_size=*/4, "generation 2");
  recorder.issued("broadcast", "uint8", 17);
  recorder.completed(recorder.issued("barrier", "", 0), true);
  const std::string path = recorder.dump("SIGUSR1");
  EXPECT_EQ(path, dir / "flight/rank_3.json");
  const auto dumps = read_flight_dumps(dir / "flight");
  ASSERT_EQ(dumps.size(), 1u);
  EXPECT_EQ(dumps[0].id, 3);
  EXPECT_EQ(dumps[0].rank, 1);
  EXPECT_EQ(dumps[0].world_size, 4);
  EXPECT_EQ(dumps[0].group, "generation 2");
  EXPECT_EQ(dumps[0].reason, "SIGUSR1");
  ASSERT_EQ(dumps[0].entries.size(), 2u);
  EXPECT_EQ(dumps[0].entries[0].op, "broadcast");
  EXPECT_EQ(dumps[0].entries[0].state, State::kInFlight);
  EXPECT_EQ(dumps[0].entries[1].state, State::kCompleted);
  const auto receipt = last_flight_dump();
  ASSERT_TRUE(receipt.has_value());
  EXPECT_EQ(receipt->dir, dir / "flight");
  EXPECT_EQ(receipt->id, 3);
}

TEST(FlightRecorder, AFolderWithoutDumpsOrWithABrokenOneIsNamed) {
  trainrt::testing::TempDir dir;
  EXPECT_THAT(trainrt::testing::error_of([&] { read_flight_dumps(dir.path()); }), HasSubstr("no flight recorder dumps"));
  trainrt::testing::write_file(dir / "rank_0.json", "{\"id\": 0}");
  EXPECT_THAT(trainrt::testing::error_of([&] { read_flight_dumps(dir.path()); }),
              HasSubstr(dir / "rank_0.json" + ": not a flight recorder dump"));
}

TEST(FlightReport, NamesTheRankThatIssuedAnotherCollectiveAtTheSameNumberAndBothOperations) {
  auto others = completed_steps(57);
  others.push_back(entry(57, "all_reduce", 1258291, State::kInFlight, "gradient bucket 0"));
  auto odd = completed_steps(57);
  odd.push_back(entry(57, "all_reduce", 4, State::kInFlight, "fault injection: an extra collective"));
  const std::string report = flight_report({dump_of(0, 3, others), dump_of(1, 3, odd), dump_of(2, 3, others)});
  EXPECT_THAT(report, HasSubstr("3 of 3 ranks of generation 0 dumped"));
  EXPECT_THAT(report, HasSubstr("the ranks diverged at collective #57: rank 1 issued all_reduce float32 4 B "
                                "(fault injection: an extra collective); ranks 0, 2 issued all_reduce float32 "
                                "1.2 MiB (gradient bucket 0)"));
}

TEST(FlightReport, NamesTheRankThatIsBehindAndTheCollectiveItNeverIssued) {
  auto waiting = completed_steps(12);
  waiting.push_back(entry(12, "all_reduce", 4096, State::kInFlight, "gradient bucket 0"));
  const std::string report =
      flight_report({dump_of(0, 3, waiting), dump_of(1, 3, completed_steps(12)), dump_of(2, 3, waiting)});
  EXPECT_THAT(report, HasSubstr("ranks 0, 2 wait in collective #12, all_reduce float32 4.0 KiB (gradient bucket 0), "
                                "issued 20.0 s before the dump"));
  EXPECT_THAT(report, HasSubstr("rank 1 is behind: it never issued #12; its last was #11"));
  EXPECT_THAT(report, Not(HasSubstr("diverged")));
}

TEST(FlightReport, NamesTheRanksThatLeftNoDumpAsTheOnesTheCollectiveWaitsFor) {
  auto waiting = completed_steps(12);
  waiting.push_back(entry(12, "all_reduce", 4096, State::kInFlight, "gradient bucket 0"));
  const std::string report = flight_report({dump_of(0, 3, waiting), dump_of(2, 3, waiting)});
  EXPECT_THAT(report, HasSubstr("2 of 3 ranks"));
  EXPECT_THAT(report, HasSubstr("ranks 0, 2 wait in collective #12"));
  EXPECT_THAT(report, HasSubstr("rank 1 left no dump (stopped, killed or unreachable): collective #12 waited for it"));
}

TEST(FlightReport, SaysWhenEveryRankJoinedAndTheCollectiveItselfIsStuck) {
  auto waiting = completed_steps(5);
  waiting.push_back(entry(5, "all_reduce", 4096, State::kInFlight));
  EXPECT_THAT(flight_report({dump_of(0, 2, waiting), dump_of(1, 2, waiting)}),
              HasSubstr("every rank issued it: the collective itself is stuck"));
  EXPECT_THAT(flight_report({dump_of(0, 2, completed_steps(5)), dump_of(1, 2, completed_steps(5))}),
              HasSubstr("every rank completed collective #4; none is pending"));
}

TEST(FlightReport, LeavesOutTheDumpsOfAnEarlierIncident) {
  auto waiting = completed_steps(5);
  waiting.push_back(entry(5, "all_reduce", 4096, State::kInFlight));
  auto old = dump_of(1, 2, completed_steps(2), /*dumped_us=*/21'000'000 - 3'600'000'000LL);
  const std::string report = flight_report({dump_of(0, 2, waiting), old});
  EXPECT_THAT(report, HasSubstr("1 of 2 ranks"));
  EXPECT_THAT(report, HasSubstr("rank 1 left no dump"));
  EXPECT_THAT(report, HasSubstr("(left out, from an earlier incident: rank_1.json)"));
}

TEST(CompletionPoller, RunsEachCallbackOnceItsQuerySaysCompleteAndNotBefore) {
  CompletionPoller poller;
  std::atomic<bool> done{false}, thrown_seen{false};
  std::atomic<int> calls{0};
  poller.watch([&] { return done.load(); }, [&] { ++calls; });
  poller.watch([]() -> bool { throw std::runtime_error("aborted"); }, [&] { thrown_seen = true; });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(calls, 0);
  done = true;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (calls == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(thrown_seen);  // a query that throws counts as complete
}

// Gloo ranks as threads whose communicators record their collectives and see completion by
// polling, as the NCCL backend does.
void run_polled_ranks(int world_size, const std::string& dir,
                      const std::function<void(int, Communicator&, FlightRecorder&)>& body) {
  const int port = trainrt::testing::free_port();
  auto server = trainrt::testing::host_loopback_store(port);
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors(world_size);
  for (int rank = 0; rank < world_size; ++rank) {
    threads.emplace_back([&, rank] {
      try {
        Supervision supervision;
        supervision.flight = std::make_shared<FlightRecorder>(dir, rank, rank, world_size, "generation 0");
        supervision.poll_completion = true;
        auto communicator = make_gloo_communicator(trainrt::testing::loopback_store_client(port), rank, world_size,
                                                   "127.0.0.1", std::chrono::seconds(30), supervision);
        body(rank, *communicator, *supervision.flight);
      } catch (...) {
        errors[rank] = std::current_exception();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
}

TEST(FlightRecorderOnGloo, EveryRankNumbersTheSameCollectivesAlikeAndSeesThemCompleteByPolling) {
  if (!TRAINRT_WITH_GLOO) GTEST_SKIP() << "built without the Gloo backend";
  trainrt::testing::TempDir dir;
  run_polled_ranks(2, dir.path(), [](int rank, Communicator& comm, FlightRecorder& flight) {
    std::atomic<int> calls{0};
    {
      CollectivePurpose purpose("gradient bucket 0");
      auto work = comm.all_reduce(torch::ones({1000}));
      work->on_completion([&] { ++calls; });
      work->wait();
    }
    comm.broadcast(torch::zeros({3}, torch::kInt64), 0)->wait();
    comm.barrier()->wait();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (calls == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_EQ(calls, 1) << "rank " << rank;
    // Completion is seen by the poller's thread, a pass (100 us) or so after wait() returned:
    // wait for the recorder's callbacks of the all-reduce and the broadcast too.
    auto seen = [&] {
      const auto entries = flight.snapshot("").entries;
      return entries[0].state != State::kInFlight && entries[1].state != State::kInFlight;
    };
    while (!seen() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    flight.dump("test");
  });
  const auto dumps = read_flight_dumps(dir.path());
  ASSERT_EQ(dumps.size(), 2u);
  for (const auto& dump : dumps) {
    ASSERT_EQ(dump.entries.size(), 3u) << "rank " << dump.rank;
    EXPECT_EQ(dump.entries[0].op, "all_reduce");
    EXPECT_EQ(dump.entries[0].bytes, 4000);
    EXPECT_EQ(dump.entries[0].purpose, "gradient bucket 0");
    EXPECT_EQ(dump.entries[1].op, "broadcast");
    EXPECT_EQ(dump.entries[1].dtype, "int64");
    EXPECT_EQ(dump.entries[2].op, "barrier");
    // The barrier's completion may still be on its way to the poller; the others are in.
    EXPECT_EQ(dump.entries[0].state, State::kCompleted);
    EXPECT_EQ(dump.entries[1].state, State::kCompleted);
  }
  EXPECT_THAT(flight_report(dumps), HasSubstr("2 of 2 ranks"));
}

}  // namespace
}  // namespace trainrt::dist
