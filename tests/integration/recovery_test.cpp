// Recovery with real processes under `trainrt launch`: a worker killed with SIGKILL at a random
// step (twice), or one rank of two, is restarted by the launcher, resumes from the newest
// checkpoint, and the run ends with the parameters and per-step losses of a run that was never
// interrupted, bit for bit. A job stopped by SIGTERM writes a checkpoint that a different world
// size resumes.
#include <signal.h>

#include <map>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "integration/process_util.h"
#include "test_util.h"
#include "trainrt/ckpt/state_dict.h"

namespace trainrt {
namespace {

using ::testing::HasSubstr;
using trainrt::testing::Child;
using trainrt::testing::TempDir;
using trainrt::testing::processes_with_env;
using trainrt::testing::read_file;
using trainrt::testing::spawn_child;
using trainrt::testing::wait_child;
using namespace std::chrono_literals;

constexpr int64_t kSteps = 120;  // 2 epochs of 960 samples in global batches of 16

class Recovery : public ::testing::Test {
 protected:
  void SetUp() override {
    trainrt::testing::write_idx_dataset(data_.path(), 960, 64, 16, 16);
    write_job(data_ / "job.pbtxt", "dropout: 0.2", "adamw");
    write_job(data_ / "plain.pbtxt", "", "sgd");
  }

  // A small CNN; 8 samples per rank with 2 ranks (16 with 1), a checkpoint every 6 steps.
  void write_job(const std::string& path, const std::string& cnn_extra, const std::string& optimizer) {
    trainrt::testing::write_file(
        path, "seed: 4\n"
              "model { name: 'cnn' cnn { channels: [8, 16] hidden: 32 " + cnn_extra + " } }\n"
              "data { dir: '" + data_.path() + "' batch_size: 16 eval_batch_size: 64 }\n"
              "optimizer { name: '" + optimizer + "' lr: 0.01 }\n"
              "train { epochs: 2 log_every_steps: 1 }\n"
              "runtime { threads: 1 deterministic: true }\n"  // bit for bit on a GPU too
              "distributed { timeout_seconds: 20 }\n"
              "checkpoint { every_steps: 6 keep_last: 2 }\n");
  }

  // `trainrt launch --standalone --nproc-per-node N LAUNCH_ARGS -- trainrt train JOB --run-dir RUN`.
  Child launch(const std::string& run, int nproc, const std::string& run_id,
               const std::vector<std::string>& launch_args = {}, const std::string& job = "job.pbtxt",
               const std::vector<std::string>& train_args = {}) {
    std::vector<std::string> argv{TRAINRT_BIN, "launch", "--standalone", "--nproc-per-node",
                                  std::to_string(nproc), "--run-id", run_id};
    argv.insert(argv.end(), launch_args.begin(), launch_args.end());
    argv.insert(argv.end(), {"--", TRAINRT_BIN, "train", data_ / job, "--run-dir", out_ / run});
    argv.insert(argv.end(), train_args.begin(), train_args.end());
    return spawn_child(argv, {}, out_ / (run + ".log"));
  }

  // The train lines of RUN's metrics.jsonl by step (a line being written is skipped).
  std::map<int64_t, double> losses(const std::string& run) {
    std::map<int64_t, double> by_step;
    for (const auto& line : trainrt::testing::read_lines(out_ / (run + "/metrics.jsonl"))) {
      const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_object() && j.value("split", "") == "train") by_step[j["step"]] = j["loss"];
    }
    return by_step;
  }

  int64_t last_step(const std::string& run) {
    const auto by_step = losses(run);
    return by_step.empty() ? 0 : by_step.rbegin()->first;
  }

  // Waits until RUN has logged `step`; false if it did not within a minute.
  bool wait_for_step(const std::string& run, int64_t step) {
    for (auto deadline = std::chrono::steady_clock::now() + 60s; std::chrono::steady_clock::now() < deadline;) {
      if (last_step(run) >= step) return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }

  // SIGKILLs rank `rank` of job `run_id` in its `restart`-th incarnation.
  void kill_worker(const std::string& run_id, int restart, int rank) {
    const auto victims = processes_with_env({"TORCHELASTIC_RUN_ID=" + run_id, "RANK=" + std::to_string(rank),
                                             "TORCHELASTIC_RESTART_COUNT=" + std::to_string(restart)});
    ASSERT_EQ(victims.size(), 1u);
    kill(victims[0], SIGKILL);
  }

  std::string final_model(const std::string& run) {
    return read_file(out_ / (run + "/checkpoints/step-00000120/model.pt"));
  }

  void expect_identical_runs(const std::string& run, const std::string& reference) {
    EXPECT_EQ(final_model(run), final_model(reference)) << "final parameters differ";
    const auto got = losses(run), want = losses(reference);
    ASSERT_EQ(got.size(), static_cast<size_t>(kSteps));
    ASSERT_EQ(want.size(), static_cast<size_t>(kSteps));
    for (const auto& [step, loss] : want) EXPECT_EQ(got.at(step), loss) << "step " << step;
  }

  int64_t random_step(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(random_); }

  TempDir data_, out_;
  std::mt19937_64 random_{std::random_device{}()};
};

TEST_F(Recovery, WorkerKilledTwiceResumesAndEndsBitForBitLikeTheUninterruptedRun) {
  ASSERT_EQ(wait_child(launch("full", 1, "full1"), 240s), 0) << read_file(out_ / "full.log");

  const Child launcher = launch("run", 1, "kill1", {"--max-restarts", "2"});
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

  const Child launcher = launch("run", 2, "kill2", {"--max-restarts", "2"}, "job.pbtxt", eight);
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
