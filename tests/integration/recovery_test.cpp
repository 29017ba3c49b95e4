// Recovery with real processes under `trainrt launch`: a worker killed with SIGKILL at a random
// step (twice), or one rank of two, is restarted by the launcher, resumes from the newest
// checkpoint, and the run ends with the parameters and per-step losses of a run that was never
// interrupted, bit for bit. A job stopped by SIGTERM writes a checkpoint that a different world
// size resumes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_paths.h"  // TRAINRT_BIN, TRAINRT_SOURCE_DIR, ... (tests/CMakeLists.txt)
#include "integration/training_job.h"
#include "trainrt/ckpt/state_dict.h"

namespace trainrt {
namespace {

using ::testing::HasSubstr;
using trainrt::testing::Child;
using trainrt::testing::read_file;
using trainrt::testing::spawn_child;
using trainrt::testing::wait_child;
using trainrt::testing::kSteps;
using namespace std::chrono_literals;

class Recovery : public trainrt::testing::TrainingJobTest {};

TEST_F(Recovery, WorkerKilledTwiceResumesAndEndsBitForBitLikeTheUninterruptedRun) {
  ASSERT_EQ(wait_child(launch("full", 1, "full1"), 240s), 0) << read_file(out_ / "full.log");

  const Child launcher = launch("run", 1, "kill1", {"--max-restarts", "2", "--recovery", "restart"});
  const int64_t first = random_step(8, 50);
  ASSERT_TRUE(wait_for_step("run", first)) << read_file(out_ / "run.log");
  kill_worker("kill1", 0, 0);
  const int64_t killed_at = last_step("run");
  const int64_t second = random_step(std::min<int64_t>(killed_at + 8, 95), 95);
  SCOPED_TRACE(fmt::format("killed after step {} (asked {}), then at {}", killed_at, first, second));
  ASSERT_TRUE(wait_for_step("run", second)) << read_file(out_ / "run.log");
  kill_worker("kill1", 1, 0);
  ASSERT_EQ(wait_child(launcher, 240s), 0) << read_file(out_ / "run.log");

  const std::string log = read_file(out_ / "run.log");
  EXPECT_THAT(log, HasSubstr("killed by signal 9 (SIGKILL)"));
  EXPECT_THAT(log, HasSubstr("[rank 0] resumed from " + (out_ / "run/checkpoints/step-")));
  expect_identical_runs("run", "full");
}

TEST_F(Recovery, OneOfTwoRanksKilledResumesAndEndsBitForBit) {
  if (!TRAINRT_WITH_GLOO) GTEST_SKIP() << "built without the Gloo backend";
  const std::vector<std::string> eight{"--set", "data.batch_size=8"};  // 2 x 8 per step
  ASSERT_EQ(wait_child(launch("full", 2, "full2", {}, "job.pbtxt", eight), 240s), 0)
      << read_file(out_ / "full.log");

  const Child launcher = launch("run", 2, "kill2", {"--max-restarts", "2", "--recovery", "restart"}, "job.pbtxt", eight);
  const int64_t at = random_step(8, 90);
  SCOPED_TRACE(fmt::format("rank 1 killed at step {}", at));
  ASSERT_TRUE(wait_for_step("run", at)) << read_file(out_ / "run.log");
  kill_worker("kill2", 0, 1);
  ASSERT_EQ(wait_child(launcher, 240s), 0) << read_file(out_ / "run.log");
  EXPECT_THAT(read_file(out_ / "run.log"), HasSubstr("[rank 0] resumed from "));
  expect_identical_runs("run", "full");
}

TEST_F(Recovery, StoppedBySigtermThenResumedByOneProcessWithTheSameGlobalBatch) {
  if (!TRAINRT_WITH_GLOO) GTEST_SKIP() << "built without the Gloo backend";
  // Plain SGD without dropout: 2 ranks of batch 8 and 1 process of batch 16 compute the same
  // steps up to rounding (data_parallel_test), so the runs can be compared.
  const std::vector<std::string> eight{"--set", "data.batch_size=8"};
  ASSERT_EQ(wait_child(launch("full", 2, "term0", {}, "plain.pbtxt", eight), 240s), 0)
      << read_file(out_ / "full.log");

  const Child launcher = launch("run", 2, "term1", {}, "plain.pbtxt", eight);
  const int64_t at = random_step(8, 90);
  ASSERT_TRUE(wait_for_step("run", at)) << read_file(out_ / "run.log");
  kill(launcher.pid, SIGTERM);
  EXPECT_EQ(wait_child(launcher, 60s), 128 + SIGTERM);
  const int64_t stopped = last_step("run");
  SCOPED_TRACE(fmt::format("SIGTERM after step {}", stopped));
  EXPECT_THAT(read_file(out_ / "run.log"),
              HasSubstr(fmt::format("[rank 0] stopped by Terminated at step {}; checkpoint {} written", stopped,
                                    out_ / fmt::format("run/checkpoints/step-{:08d}", stopped))));

  const Child single = spawn_child({TRAINRT_BIN, "train", data_ / "plain.pbtxt", "--run-dir", out_ / "run"}, {},
                                   out_ / "single.log");
  ASSERT_EQ(wait_child(single, 240s), 0) << read_file(out_ / "single.log");
  const std::string log = read_file(out_ / "single.log");
  EXPECT_THAT(log, HasSubstr(fmt::format("resumed from {}: step {}", out_ / fmt::format("run/checkpoints/step-{:08d}", stopped), stopped)));
  EXPECT_THAT(log, HasSubstr("written by 2 processes with batch 8 x 1 micro-batches; this run has 1 with batch 16 x 1"));
  EXPECT_EQ(last_step("run"), kSteps);

  const auto got = ckpt::read_tensor_dict(final_model("run"), "run");
  const auto want = ckpt::read_tensor_dict(final_model("full"), "full");
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [name, tensor] : want) {
    const double scale = tensor.abs().max().item<double>();
    EXPECT_LT((got.at(name) - tensor).abs().max().item<double>(), 1e-5 * scale) << name;
  }
}

}  // namespace
}  // namespace trainrt
