// No silent hang (issue 22): real `trainrt launch` jobs of three Gloo ranks meet the two ways a
// data-parallel job hangs - a rank that stops answering (SIGSTOP) and ranks that diverge (one
// issues a collective the others do not) - and each ends within twice the collective timeout, with
// nothing left running and the flight recorder's report naming the rank and the collective. And
// SIGUSR1 - from a user, or from the launcher when a rank is lost - dumps every rank's collectives
// while training goes on.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>

#include "test_paths.h"  // TRAINRT_BIN, TRAINRT_SOURCE_DIR, ... (tests/CMakeLists.txt)
#include "integration/training_job.h"

namespace trainrt {
namespace {

using ::testing::HasSubstr;
using trainrt::testing::processes_with_env;
using trainrt::testing::read_file;
using trainrt::testing::run_command;
using trainrt::testing::wait_child;
using namespace std::chrono_literals;

constexpr double kTimeoutSeconds = 5;

class Hang : public trainrt::testing::TrainingJobTest {
 protected:
  void SetUp() override {
    if (!TRAINRT_WITH_GLOO) GTEST_SKIP() << "built without the Gloo backend";
    TrainingJobTest::SetUp();
  }

  // Three ranks of 4 samples, restarted as a group (nothing recovers: the job must end).
  trainrt::testing::Child launch_three(const std::string& run, const std::vector<std::string>& env = {}) {
    return launch(run, 3, "hang-" + run, {"--recovery", "restart", "--stop-timeout", "2"}, "plain.pbtxt",
                  {"--set", "data.batch_size=12", "--set",
                   fmt::format("distributed.timeout_seconds={}", kTimeoutSeconds)},
                  env);
  }

  static double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
};

TEST_F(Hang, AStoppedRankEndsEveryProcessWithinTwiceTheTimeoutAndTheReportNamesIt) {
  auto job = launch_three("stopped");
  ASSERT_TRUE(wait_for_step("stopped", 5)) << read_file(out_ / "stopped.log");
  const auto victims = processes_with_env({"TORCHELASTIC_RUN_ID=hang-stopped", "RANK=1"});
  ASSERT_EQ(victims.size(), 1u);
  const auto stopped_at = std::chrono::steady_clock::now();
  kill(victims[0], SIGSTOP);
  const int code = wait_child(job, 120s);
  const double seconds = seconds_since(stopped_at);
  const std::string log = read_file(out_ / "stopped.log");
  EXPECT_NE(code, 0) << log;
  EXPECT_LT(seconds, 2 * kTimeoutSeconds) << log;
  EXPECT_TRUE(processes_with_env({"TORCHELASTIC_RUN_ID=hang-stopped"}).empty()) << "a worker outlived its launcher";
  // The survivors' collective timed out (Gloo's own timeout, distributed.timeout_seconds). The
  // stopped rank is named either as the one that left no dump, or - when the launcher's SIGCONT
  // (with its SIGTERM) let it dump in time - by rank 0's reason, which names the rank it lost.
  EXPECT_THAT(log, ::testing::ContainsRegex("ranks 0, (1, )?2 saw collective #[0-9]+, all_reduce [^\n]* fail"));
  EXPECT_THAT(log, ::testing::ContainsRegex("rank 1 left no dump \\(stopped, killed or unreachable\\): "
                                            "collective #[0-9]+ waited for it|"
                                            "dumped \\(rank 0: collective #[0-9]+ [^\n]*lost rank 1 \\("));
  EXPECT_THAT(log, HasSubstr("flight records: " + out_ / "stopped/flight"));
  std::printf("stopped rank: the job ended %.1f s after the SIGSTOP (timeout %.0f s)\n", seconds, kTimeoutSeconds);

  const auto again = run_command(std::string(TRAINRT_BIN) + " flight " + out_ / "stopped");
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_THAT(again.output, HasSubstr("lost rank 1 ("));
  EXPECT_THAT(again.output, HasSubstr("FAILED"));
}

TEST_F(Hang, ARankThatIssuesAnExtraCollectiveIsNamedWithItsNumberAndBothOperations) {
  const auto started = std::chrono::steady_clock::now();
  auto job = launch_three("extra", {"TRAINRT_FAULT=extra:4:1"});
  const int code = wait_child(job, 120s);
  const std::string log = read_file(out_ / "extra.log");
  EXPECT_NE(code, 0) << log;
  EXPECT_THAT(log, HasSubstr("the ranks diverged at collective #"));
  EXPECT_THAT(log, HasSubstr("rank 1 issued all_reduce float32 4 B (fault injection: an extra collective)"));
  EXPECT_THAT(log, HasSubstr("ranks 0, 2 issued all_reduce float32"));
  EXPECT_THAT(log, HasSubstr("(gradient bucket 0)"));
  EXPECT_TRUE(processes_with_env({"TORCHELASTIC_RUN_ID=hang-extra"}).empty()) << "a worker outlived its launcher";
  std::printf("extra collective: the job ended %.1f s after its start\n", seconds_since(started));
}

TEST_F(Hang, SigusrOneMakesEveryRankDumpItsCollectivesAndTrainingGoesOn) {
  auto job = launch("usr1", 2, "hang-usr1", {}, "plain.pbtxt");
  ASSERT_TRUE(wait_for_step("usr1", 3)) << read_file(out_ / "usr1.log");
  for (int rank = 0; rank < 2; ++rank) {
    const auto workers = processes_with_env({"TORCHELASTIC_RUN_ID=hang-usr1", "RANK=" + std::to_string(rank)});
    ASSERT_EQ(workers.size(), 1u);
    kill(workers[0], SIGUSR1);
  }
  EXPECT_EQ(wait_child(job, 240s), 0) << read_file(out_ / "usr1.log");
  struct stat info;
  EXPECT_EQ(stat((out_ / "usr1/flight/rank_0.json").c_str(), &info), 0);
  EXPECT_EQ(stat((out_ / "usr1/flight/rank_1.json").c_str(), &info), 0);
  EXPECT_THAT(read_file(out_ / "usr1.log"), HasSubstr("SIGUSR1: flight records written to"));
  const auto report = run_command(std::string(TRAINRT_BIN) + " flight " + out_ / "usr1");
  EXPECT_EQ(report.exit_code, 0) << report.output;
  EXPECT_THAT(report.output, HasSubstr("2 of 2 ranks of generation"));
  EXPECT_THAT(report.output, HasSubstr("gradient bucket 0"));
}

TEST_F(Hang, ALostRankMakesTheLauncherAskTheOthersForTheirFlightRecords) {
  // Rank 1 SIGKILLs itself before step 5's forward pass; its launcher replaces it (memory recovery)
  // and first asks rank 0 for its collectives.
  auto job = launch("lost", 2, "hang-lost", {"--max-restarts", "1"}, "plain.pbtxt",
                    {"--set", "train.max_steps=12"}, {"TRAINRT_FAULT=forward:5:1"});
  const int code = wait_child(job, 240s);
  const std::string log = read_file(out_ / "lost.log");
  EXPECT_EQ(code, 0) << log;
  EXPECT_THAT(log, HasSubstr("[rank 0] trainrt: SIGUSR1: flight records written to " + out_ / "lost/flight/rank_0.json"));
  struct stat info;
  EXPECT_EQ(stat((out_ / "lost/flight/rank_0.json").c_str(), &info), 0);
}

}  // namespace
}  // namespace trainrt
