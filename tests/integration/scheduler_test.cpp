// Under a real scheduler, without trainrt's launcher: a one-node Slurm (integration/slurm_cluster.h)
// whose srun starts the workers as its tasks.
#include <signal.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_paths.h"  // TRAINRT_BIN, ... (tests/CMakeLists.txt)
#include "dist/dist_test_util.h"
#include "integration/process_util.h"
#include "integration/slurm_cluster.h"
#include "integration/training_job.h"
#include "test_util.h"

namespace trainrt {
namespace {

using ::testing::HasSubstr;
using trainrt::testing::Child;
using trainrt::testing::SlurmCluster;
using trainrt::testing::TempDir;
using trainrt::testing::free_port;
using trainrt::testing::processes_with_env;
using trainrt::testing::read_file;
using trainrt::testing::spawn_child;
using trainrt::testing::wait_child;
using namespace std::chrono_literals;

class Slurm : public trainrt::testing::MlpJobTest {
 protected:
  Slurm()
      : MlpJobTest({/*hidden=*/"[32]", /*data_extra=*/"batch_size: 8 ", /*schedule=*/"", /*epochs=*/1000,
                    /*timeout_seconds=*/3}) {}

  void SetUp() override {
    MlpJobTest::SetUp();
    if (IsSkipped()) return;
    const std::string why = SlurmCluster::unavailable();
    if (!why.empty()) GTEST_SKIP() << why;
    cluster_.emplace();
    ASSERT_EQ(cluster_->error(), "");
  }

  std::optional<SlurmCluster> cluster_;
  TempDir out_;
};

TEST_F(Slurm, ATaskKilledUnderKillOnBadExitZeroLeavesTheOthersTrainingWithoutIt) {
  // README "When a rank is lost": srun --kill-on-bad-exit=0 keeps the other tasks running; with
  // TRAINRT_RECOVERY=memory they wait distributed.timeout_seconds for the lost one (no launcher
  // reports it), then go on with the same global batch.
  const Child srun = spawn_child(
      {"srun", "--ntasks", "3", "--kill-on-bad-exit=0", "--output", out_ / "task%t.log", TRAINRT_BIN, "train",
       data_ / "job.pbtxt", "--run-dir", out_ / "run", "--set", "train.max_steps=3000", "--set",
       "distributed.min_world_size=2"},
      {cluster_->conf_env(), "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + std::to_string(free_port()),
       "TRAINRT_RECOVERY=memory"},
      out_ / "srun.log");
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  std::vector<pid_t> task2;
  while (std::chrono::steady_clock::now() < deadline &&
         (!std::filesystem::exists(out_ / "run/metrics.jsonl") || task2.empty())) {
    task2 = processes_with_env({"SLURM_PROCID=2", cluster_->conf_env()});
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(task2.size(), 1u) << read_file(out_ / "srun.log") << read_file(out_ / "task0.log");
  kill(task2[0], SIGKILL);
  // srun's own status is the killed task's; the others' are in their logs.
  EXPECT_NE(wait_child(srun, 180s), -1) << "srun still running; " << read_file(out_ / "task0.log");
  const std::string rank0 = read_file(out_ / "task0.log");
  EXPECT_THAT(read_file(out_ / "srun.log"), HasSubstr("task 2: Killed"));
  EXPECT_THAT(rank0, HasSubstr("data parallel: 3 ranks over gloo"));
  EXPECT_THAT(rank0, HasSubstr("generation 1: lost rank 2, 2 ranks;"));
  EXPECT_THAT(rank0, HasSubstr("done: 3000 steps"));
  EXPECT_THAT(read_file(out_ / "task1.log"), ::testing::Not(HasSubstr("error")));
}

}  // namespace
}  // namespace trainrt
