// Recovery from the replicas' memory with real processes, real Gloo and the launcher's real store
// (`trainrt launch --recovery memory`, its default): workers SIGKILLed in a forward pass, inside
// the gradient all-reduce, while a state is handed over, and replacements killed themselves, are
// replaced alone while the others keep their state; with disk checkpoints off the run ends with
// the per-step losses and parameters of a run never interrupted, bit for bit. A rank lost for good
// leaves the others training with the same global batch, and a process that comes back joins.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "test_paths.h"  // TRAINRT_BIN, TRAINRT_SOURCE_DIR, ... (tests/CMakeLists.txt)
#include "integration/training_job.h"
#include "trainrt/ckpt/state_dict.h"

namespace trainrt {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using trainrt::testing::Child;
using trainrt::testing::read_file;
using trainrt::testing::spawn_child;
using trainrt::testing::wait_child;
using namespace std::chrono_literals;

class MemoryRecovery : public trainrt::testing::TrainingJobTest {
 protected:
  // Disk checkpoints off but the last (the final parameters to compare).
  std::vector<std::string> train_args(int batch, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--set", "checkpoint.every_steps=0", "--set",
                                  "data.batch_size=" + std::to_string(batch)};
    for (auto& e : extra) args.insert(args.end(), {"--set", e});
    return args;
  }

  std::map<std::string, torch::Tensor> final_parameters(const std::string& run) {
    std::string newest;
    for (const auto& entry : std::filesystem::directory_iterator(out_ / (run + "/checkpoints"))) {
      const std::string name = entry.path().filename();
      if (name.rfind("step-", 0) == 0 && name > newest) newest = name;
    }
    const std::string path = out_ / (run + "/checkpoints/" + newest + "/model.pt");
    return ckpt::read_tensor_dict(read_file(path), path);
  }

  void expect_bit_identical(const std::string& run, const std::string& reference) {
    const auto got = losses(run), want = losses(reference);
    ASSERT_FALSE(want.empty());
    // A step's line is missing only where the failure cut its metrics' reduction short (the lost
    // rank's share of it is gone with it): after that step, a membership change.
    std::set<int64_t> changed_after;
    for (const auto& change : membership(run)) changed_after.insert(change["step"].get<int64_t>());
    for (const auto& [step, loss] : want) {
      if (!got.count(step)) {
        EXPECT_TRUE(changed_after.count(step)) << "step " << step << " missing";
        continue;
      }
      EXPECT_EQ(got.at(step), loss) << "step " << step;
    }
    EXPECT_GE(got.size() + changed_after.size(), want.size());
    const auto a = final_parameters(run), b = final_parameters(reference);
    ASSERT_EQ(a.size(), b.size());
    for (const auto& [name, tensor] : b) EXPECT_TRUE(torch::equal(a.at(name), tensor)) << name;
  }

  // RUN's metrics.jsonl lines of split "membership".
  std::vector<nlohmann::json> membership(const std::string& run) {
    std::vector<nlohmann::json> lines;
    for (const auto& line : trainrt::testing::read_lines(out_ / (run + "/metrics.jsonl"))) {
      const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_object() && j.value("split", "") == "membership") lines.push_back(j);
    }
    return lines;
  }

  // One job with `faults`, every one recovered from memory, against an uninterrupted run.
  // `interrupted`: recoveries a fault cut short (a transfer killed), which write no line.
  void run_with_faults(int ranks, int batch, const std::string& faults, int kills, int interrupted = 0) {
    ASSERT_EQ(wait_child(launch("full", ranks, "mem-full", {}, "job.pbtxt", train_args(batch)), 240s), 0)
        << read_file(out_ / "full.log");
    const Child launcher = launch("run", ranks, "mem-run", {"--max-restarts", std::to_string(kills)},
                                  "job.pbtxt", train_args(batch), {"TRAINRT_FAULT=" + faults});
    ASSERT_EQ(wait_child(launcher, 300s), 0) << read_file(out_ / "run.log");
    const std::string log = read_file(out_ / "run.log");
    EXPECT_EQ(count(log, "; replacing it"), kills) << log;
    EXPECT_GE(count(log, "replacing it with spare"), 1) << log;  // a spare was waiting
    EXPECT_THAT(log, Not(HasSubstr("resumed from")));  // nothing came from disk
    const auto changes = membership("run");
    ASSERT_GE(changes.size(), static_cast<size_t>(kills - interrupted)) << log;
    for (const auto& change : changes) {
      EXPECT_EQ(change["source"], "memory");
      EXPECT_EQ(change["redone_steps"], 0.0);
      EXPECT_EQ(change["world_size"], static_cast<double>(ranks));
    }
    expect_bit_identical("run", "full");
    // `trainrt runs summary` totals the changes.
    const auto summary = trainrt::testing::run_command(std::string(TRAINRT_BIN) + " runs summary " + (out_ / "run"));
    EXPECT_THAT(summary.output, HasSubstr(fmt::format("membership: {} changes", changes.size())));
  }

  int count(const std::string& text, const std::string& what) {
    int n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  }
};

TEST_F(MemoryRecovery, TwoRanksKilledInForwardAllReduceAndTransferEndBitForBit) {
  if (!TRAINRT_WITH_GLOO) GTEST_SKIP() << "built without the Gloo backend";
  // Generation 0: rank 1 dies before a forward pass; 1: rank 0 (the metrics writer) too; 2: rank
  // 0's replacement while it receives the state of step 39; 3: rank 1 inside the all-reduce (its
  // bucket may have reached rank 0 first: then rank 0 holds step 70's state, the newest).
  run_with_faults(2, 8, "forward:20:1,forward:40:0,transfer:39:0,allreduce:70:1", 4, 1);
}

TEST_F(MemoryRecovery, ThreeRanksSurviveASenderKilledDuringTheTransferAndEndBitForBit) {
  if (!TRAINRT_WITH_GLOO) GTEST_SKIP() << "built without the Gloo backend";
  // 3 ranks of 8: 40 steps an epoch. Generation 1 loses survivor rank 2 while it sends.
  run_with_faults(3, 8, "forward:15:1,transfer:14:2,allreduce:50:0", 3, 1);
}

TEST_F(MemoryRecovery, TwentyKillsAtRandomStepsAndRanksAllRecoverFromMemoryBitForBit) {
  if (!TRAINRT_WITH_GLOO) GTEST_SKIP() << "built without the Gloo backend";
  // TRAINRT_KILL_SEED=N replays a schedule a failed run printed.
  const char* replay = std::getenv("TRAINRT_KILL_SEED");
  const uint64_t seed = replay ? std::stoull(replay) : std::random_device{}();
  std::mt19937_64 random(seed);
  std::string faults;
  for (int i = 0; i < 20; ++i) {
    const int64_t step = 3 + 3 * i + std::uniform_int_distribution<int64_t>(0, 2)(random);
    const int rank = std::uniform_int_distribution<int>(0, 2)(random);
    const char* point = std::uniform_int_distribution<int>(0, 1)(random) ? "forward" : "allreduce";
    faults += fmt::format("{}{}:{}:{}", i ? "," : "", point, step, rank);
  }
  SCOPED_TRACE("kill schedule seed " + std::to_string(seed) + ": TRAINRT_FAULT=" + faults);
  std::printf("kill schedule seed %lu: TRAINRT_FAULT=%s\n", static_cast<unsigned long>(seed), faults.c_str());
  run_with_faults(3, 8, faults, 20);
}

TEST_F(MemoryRecovery, RanksLostAreLeftOutWithTheSameGlobalBatchAndRejoinWhenTheyComeBack) {
  if (!TRAINRT_WITH_GLOO) GTEST_SKIP() << "built without the Gloo backend";
  // 3 ranks of 5: each global batch of 15 is shared 7 + 8 by two. The survivors wait 50 ms for a
  // replacement, which (no spare waiting) takes longer to start: they go on as 2, and when it arrives (a node coming
  // back) it joins at the next step boundary and they are 3 again.
  const auto args = train_args(5, {"distributed.min_world_size=1", "distributed.replace_timeout_seconds=0.05",
                                   "train.epochs=6"});
  ASSERT_EQ(wait_child(launch("full", 3, "shrink-full", {}, "plain.pbtxt", args), 240s), 0)
      << read_file(out_ / "full.log");
  // Rank 2 lost, and rank 0: then rank 1 becomes rank 0 (the metrics and checkpoint writer, holding
  // the run directory's lock) while they are 2, and hands all of it back when rank 0 returns.
  for (const int lost : {2, 0}) {
    SCOPED_TRACE("rank " + std::to_string(lost) + " lost");
    const std::string run = "run" + std::to_string(lost);
    const Child launcher = launch(run, 3, "shrink-" + run, {"--max-restarts", "1", "--spares", "0"}, "plain.pbtxt",
                                  args, {"TRAINRT_FAULT=forward:30:" + std::to_string(lost)});
    ASSERT_EQ(wait_child(launcher, 240s), 0) << read_file(out_ / (run + ".log"));

    const auto changes = membership(run);
    const std::string log = read_file(out_ / (run + ".log"));
    ASSERT_GE(changes.size(), 2u) << log;
    EXPECT_EQ(changes.front()["world_size"], 2.0) << log;
    EXPECT_EQ(changes.front()["lost_ranks"], std::to_string(lost)) << log;
    const bool grew = std::any_of(changes.begin() + 1, changes.end(), [&](const nlohmann::json& change) {
      return change["world_size"] == 3.0 && change["joined_ranks"] == std::to_string(lost);
    });
    EXPECT_TRUE(grew) << log;
    // The same samples in every step, summed in another order while 2: close, not identical.
    const auto got = final_parameters(run), want = final_parameters("full");
    for (const auto& [name, tensor] : want) {
      const double relative = ((got.at(name) - tensor).norm() / tensor.norm()).item<double>();
      EXPECT_LT(relative, 1e-5) << name;
    }
  }
}

}  // namespace
}  // namespace trainrt
