// Data-parallel training across real processes on loopback (a TCP store hosted by rank 0, Gloo):
// N ranks with per-rank batch B reach the parameters one process reaches with batch N x B on the
// same global sample order; the command-line program trains as a rank; a rank that never starts
// makes the others fail naming it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <torch/torch.h>

#include "test_paths.h"  // TRAINRT_BIN, TRAINRT_SOURCE_DIR, ... (tests/CMakeLists.txt)
#include "dist/dist_test_util.h"
#include "integration/process_util.h"
#include "integration/training_job.h"
#include "obs/trace_check.h"
#include "test_util.h"

namespace trainrt {
namespace {

using ::testing::HasSubstr;
using trainrt::testing::Child;
using trainrt::testing::TempDir;
using trainrt::testing::free_port;
using trainrt::testing::rank_env;
using trainrt::testing::read_file;
using trainrt::testing::spawn_child;
using trainrt::testing::wait_child;

constexpr auto kProcessTimeout = std::chrono::seconds(240);

// An MLP without dropout or batch norm: the only difference between the runs is how the batch is
// split (momentum SGD, so that errors would compound over the steps). The batch size is set per run.
class DataParallel : public trainrt::testing::MlpJobTest {
 protected:
  DataParallel()
      : MlpJobTest({/*hidden=*/"[32, 16]", /*data_extra=*/"", /*schedule=*/"schedule { name: 'constant' }\n",
                    /*epochs=*/100, /*timeout_seconds=*/60}) {}

  // Starts `world_size` workers (torchrun's variables) and returns their exit codes; `out` gets
  // their parameters and logs.
  std::vector<int> run_workers(int world_size, const std::string& out,
                               const std::vector<std::string>& overrides) {
    std::filesystem::create_directories(out);
    const int port = free_port();
    std::vector<Child> children;
    for (int rank = 0; rank < world_size; ++rank) {
      std::vector<std::string> argv{TRAINRT_DP_WORKER, data_ / "job.pbtxt", out};
      argv.insert(argv.end(), overrides.begin(), overrides.end());
      const auto env = world_size == 1 ? std::vector<std::string>{} : rank_env(rank, world_size, port);
      children.push_back(spawn_child(argv, env, out + "/rank" + std::to_string(rank) + ".log"));
    }
    std::vector<int> codes;
    for (const auto& child : children) codes.push_back(wait_child(child, kProcessTimeout));
    return codes;
  }

  static std::vector<torch::Tensor> params(const std::string& out, int rank) {
    std::vector<torch::Tensor> tensors;
    torch::load(tensors, out + "/params.rank" + std::to_string(rank) + ".pt");
    return tensors;
  }
};

// Largest relative difference, per tensor, scaled by the tensor's largest magnitude.
double max_relative_difference(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double scale = std::max(b[i].abs().max().item<double>(), 1e-12);
    worst = std::max(worst, (a[i] - b[i]).abs().max().item<double>() / scale);
  }
  return worst;
}

struct Split {
  int world_size;
  int batch;          // per rank
  int accumulation;   // micro-batches per step
};

class Equivalence : public DataParallel, public ::testing::WithParamInterface<Split> {};

TEST_P(Equivalence, RanksReachTheParametersOfOneProcessWithTheWholeBatch) {
  const Split split = GetParam();
  TempDir out;
  const int whole_batch = split.world_size * split.batch * split.accumulation;
  const auto reference = run_workers(1, out / "single", {"data.batch_size=" + std::to_string(whole_batch)});
  ASSERT_EQ(reference, std::vector<int>{0}) << read_file(out / "single/rank0.log");
  const auto codes = run_workers(split.world_size, out / "dp",
                                 {"data.batch_size=" + std::to_string(split.batch),
                                  "distributed.accumulation_steps=" + std::to_string(split.accumulation)});
  for (int rank = 0; rank < split.world_size; ++rank) {
    ASSERT_EQ(codes[rank], 0) << read_file(out / ("dp/rank" + std::to_string(rank) + ".log"));
  }
  const auto single = params(out / "single", 0);
  const auto rank0 = params(out / "dp", 0);
  ASSERT_EQ(single.size(), rank0.size());
  // Agreement with one process's parameters to 1e-5 relative after 30 momentum steps.
  const double difference = max_relative_difference(rank0, single);
  std::cout << "max relative difference to one process: " << difference << "\n";
  EXPECT_LT(difference, 1e-5);
  // Every replica holds the same parameters, to the bit.
  for (int rank = 1; rank < split.world_size; ++rank) {
    const auto other = params(out / "dp", rank);
    for (size_t i = 0; i < rank0.size(); ++i) EXPECT_TRUE(torch::equal(other[i], rank0[i])) << i;
  }
  // Only rank 0 wrote metrics; the step count is the same as one process's.
  std::vector<nlohmann::json> train_lines;
  for (const auto& line : trainrt::testing::read_lines(out / "dp/run/metrics.jsonl")) {
    if (auto j = nlohmann::json::parse(line); j["split"] == "train") train_lines.push_back(j);
  }
  ASSERT_FALSE(train_lines.empty());
  const auto& first_train = train_lines.front();
  const auto& last_train = train_lines.back();
  EXPECT_EQ(last_train["step"], 30);
  // It learned (so the agreement above is about parameters that moved).
  EXPECT_LT(last_train["loss"].get<double>(), 0.7 * first_train["loss"].get<double>());
  EXPECT_TRUE(last_train.contains("allreduce_ms"));
  EXPECT_TRUE(last_train.contains("exposed_allreduce_ms"));
}

INSTANTIATE_TEST_SUITE_P(Splits, Equivalence,
                         ::testing::Values(Split{2, 8, 1}, Split{3, 8, 1}, Split{2, 8, 2}, Split{3, 4, 2}),
                         [](const auto& info) {
                           return "N" + std::to_string(info.param.world_size) + "_B" +
                                  std::to_string(info.param.batch) + "_K" +
                                  std::to_string(info.param.accumulation);
                         });

TEST_F(DataParallel, CommandLineProgramTrainsAsRanksAndOnlyRankZeroWrites) {
  TempDir out;
  const int port = free_port();
  std::vector<Child> children;
  for (int rank = 0; rank < 2; ++rank) {
    children.push_back(spawn_child(
        {TRAINRT_BIN, "train", data_ / "job.pbtxt", "--run-dir", out / "run", "--set",
         "data.batch_size=8", "--trace", out / "trace.json", "--set", "observe.trace_first_step=2",
         "--set", "observe.trace_steps=3", "--set", "observe.per_rank_scalars=true"},
        rank_env(rank, 2, port), out / ("rank" + std::to_string(rank) + ".log")));
  }
  EXPECT_EQ(wait_child(children[0], kProcessTimeout), 0) << read_file(out / "rank0.log");
  EXPECT_EQ(wait_child(children[1], kProcessTimeout), 0) << read_file(out / "rank1.log");
  EXPECT_THAT(read_file(out / "rank0.log"), HasSubstr("data parallel: 2 ranks over gloo"));
  EXPECT_EQ(read_file(out / "rank1.log"), "");  // only rank 0 prints
  const auto lines = trainrt::testing::read_lines(out / "run/metrics.jsonl");
  // Train at 10, 20, 30; eval; the final checkpoint's line.
  ASSERT_EQ(lines.size(), 5u) << read_file(out / "run/metrics.jsonl");
  const auto eval = nlohmann::json::parse(lines[3]);
  EXPECT_EQ(eval["samples"], 60);  // each rank evaluated half; the totals are the whole set's
  EXPECT_EQ(nlohmann::json::parse(lines[4])["split"], "checkpoint");
  EXPECT_TRUE(std::filesystem::exists(out / "run/checkpoints/step-00000030/model.pt"));

  // One trace holds both ranks: every span nested on its lane, three steps each, and every
  // bucket's all-reduce inside a step of its rank.
  const auto spans = trainrt::testing::read_trace_spans(out / "trace.json");
  EXPECT_THAT(trainrt::testing::trace_nesting_problems(spans), ::testing::IsEmpty());
  std::map<int, std::vector<trainrt::testing::TraceSpanInfo>> steps;
  for (const auto& span : spans) {
    if (span.name == "step") steps[span.pid].push_back(span);
  }
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].size(), 3u);
  EXPECT_EQ(steps[1].size(), 3u);
  int allreduces = 0;
  for (const auto& span : spans) {
    if (span.name.rfind("allreduce bucket", 0) != 0) continue;
    ++allreduces;
    const bool inside = std::any_of(steps[span.pid].begin(), steps[span.pid].end(), [&](const auto& step) {
      return step.begin <= span.begin && span.end <= step.end;
    });
    EXPECT_TRUE(inside) << span.name << " of rank " << span.pid << " outside every step";
  }
  EXPECT_GE(allreduces, 6);  // at least one bucket per step per rank
  // TensorBoard: rank 0's scalars in the run directory, each rank's own under rank_N.
  for (const char* dir : {"run", "run/rank_0", "run/rank_1"}) {
    bool found = false;
    for (const auto& entry : std::filesystem::directory_iterator(out / dir)) {
      found |= entry.path().filename().string().rfind("events.out.tfevents.", 0) == 0;
    }
    EXPECT_TRUE(found || !TRAINRT_WITH_TENSORBOARD) << dir;
  }
}

TEST_F(DataParallel, RankThatNeverStartsMakesTheOthersFailNamingIt) {
  TempDir out;
  const auto started = std::chrono::steady_clock::now();
  const Child rank0 = spawn_child(
      {TRAINRT_BIN, "train", data_ / "job.pbtxt", "--run-dir", out / "run", "--set",
       "distributed.timeout_seconds=2"},
      rank_env(0, 3, free_port()), out / "rank0.log");
  EXPECT_EQ(wait_child(rank0, kProcessTimeout), 1);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30));
  EXPECT_THAT(read_file(out / "rank0.log"),
              HasSubstr("rank 0: rendezvous timed out after 2 s: ranks 1, 2 of 3 did not arrive"));
}

}  // namespace
}  // namespace trainrt
