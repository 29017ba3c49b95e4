// defines: TrainingJobTest, MlpJob, MlpJobTest, rank_env — fixtures for the suites that train
// small jobs in real processes: TrainingJobTest runs a CNN under `trainrt launch` and compares it
// with an uninterrupted run (recovery_test, fault_injection_test); MlpJobTest holds an MLP job on
// a tiny data set that ranks train over Gloo on loopback (data_parallel_test, launch_test).
#pragma once

#include <signal.h>

#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_paths.h"  // TRAINRT_BIN, TRAINRT_SOURCE_DIR, ... (tests/CMakeLists.txt)
#include "integration/process_util.h"
#include "test_util.h"

namespace trainrt::testing {

using namespace std::chrono_literals;

constexpr int64_t kSteps = 120;  // 2 epochs of 960 samples in global batches of 16

class TrainingJobTest : public ::testing::Test {
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

  // `trainrt launch --standalone --nproc-per-node N LAUNCH_ARGS -- trainrt train JOB --run-dir RUN`,
  // with `env` added to the environment.
  Child launch(const std::string& run, int nproc, const std::string& run_id,
               const std::vector<std::string>& launch_args = {}, const std::string& job = "job.pbtxt",
               const std::vector<std::string>& train_args = {}, const std::vector<std::string>& env = {}) {
    std::vector<std::string> argv{TRAINRT_BIN, "launch", "--standalone", "--nproc-per-node",
                                  std::to_string(nproc), "--run-id", run_id};
    argv.insert(argv.end(), launch_args.begin(), launch_args.end());
    argv.insert(argv.end(), {"--", TRAINRT_BIN, "train", data_ / job, "--run-dir", out_ / run});
    argv.insert(argv.end(), train_args.begin(), train_args.end());
    return spawn_child(argv, env, out_ / (run + ".log"));
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
    EXPECT_TRUE(final_model(run) == final_model(reference)) << "final parameters differ";
    const auto got = losses(run), want = losses(reference);
    ASSERT_EQ(got.size(), static_cast<size_t>(kSteps));
    ASSERT_EQ(want.size(), static_cast<size_t>(kSteps));
    for (const auto& [step, loss] : want) EXPECT_EQ(got.at(step), loss) << "step " << step;
  }

  int64_t random_step(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(random_); }

  TempDir data_, out_;
  std::mt19937_64 random_{std::random_device{}()};
};

// torchrun's variables for rank `rank` of `world_size`, all on this host, with the store of rank
// 0 at 127.0.0.1:`port`.
inline std::vector<std::string> rank_env(int rank, int world_size, int port) {
  return {"RANK=" + std::to_string(rank), "LOCAL_RANK=" + std::to_string(rank),
          "WORLD_SIZE=" + std::to_string(world_size), "LOCAL_WORLD_SIZE=" + std::to_string(world_size),
          "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + std::to_string(port)};
}

// What differs between the suites' MLP jobs; the rest is shared: seed 11, momentum SGD at 0.05,
// 30 steps logged every 10, evaluation in batches of 20, one thread per rank.
struct MlpJob {
  std::string hidden;      // the hidden layers, e.g. "[32, 16]"
  std::string data_extra;  // more fields of `data`, e.g. "batch_size: 8 "
  std::string schedule;    // a `schedule { ... }` line, or ""
  int epochs = 0;          // enough that train.max_steps ends the run
  int timeout_seconds = 0;  // distributed.timeout_seconds
};

// An MLP job (data_ / "job.pbtxt") on 480 training and 60 test images of 8x8; skipped where
// Gloo was not built, as every test of these suites runs ranks over it.
class MlpJobTest : public ::testing::Test {
 protected:
  explicit MlpJobTest(MlpJob job) : job_(std::move(job)) {}

  void SetUp() override {
    if (!TRAINRT_WITH_GLOO) GTEST_SKIP() << "built without the Gloo backend";
    trainrt::testing::write_idx_dataset(data_.path(), 480, 60, 8, 8);
    trainrt::testing::write_file(
        data_ / "job.pbtxt",
        "seed: 11\n"
        "model { name: 'mlp' mlp { hidden: " + job_.hidden + " } }\n"
        "data { format: 'idx' dir: '" + data_.path() + "' " + job_.data_extra + "eval_batch_size: 20 }\n"
        "optimizer { name: 'sgd' lr: 0.05 momentum: 0.9 }\n" + job_.schedule +
        "train { epochs: " + std::to_string(job_.epochs) + " max_steps: 30 log_every_steps: 10 }\n"
        "runtime { threads: 1 }\n"
        "distributed { timeout_seconds: " + std::to_string(job_.timeout_seconds) + " }\n");
  }

  const MlpJob job_;
  TempDir data_;
};

}  // namespace trainrt::testing
