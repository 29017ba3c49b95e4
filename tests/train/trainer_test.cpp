// The generic training loop, in-process, on a small synthetic data set: it learns, it is
// deterministic, and it writes what it promises to the run directory.
#include <algorithm>
#include <numeric>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_paths.h"  // TRAINRT_BIN, TRAINRT_SOURCE_DIR, ... (tests/CMakeLists.txt)
#include "trainrt/tasks/image_classification.h"
#include "test_util.h"
#include "train/train_test_util.h"
#include "trainrt/config/load.h"
#include "trainrt/core/runtime.h"
#include "trainrt/core/plugin.h"
#include "trainrt/train/checkpoint_state.h"
#include "trainrt/train/trainer.h"

namespace trainrt::train {
namespace {

using trainrt::testing::TempDir;
using trainrt::testing::metrics;
using trainrt::testing::small_config;
using trainrt::testing::train;
using trainrt::testing::write_csv_features;

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override { trainrt::testing::write_idx_dataset(data_.path(), 320, 100, 8, 8); }
  TempDir data_, runs_;
};

TEST_F(TrainerTest, LearnsAndWritesMetricsAndResolvedConfig) {
  const TrainResult result = train(small_config(data_.path()), runs_ / "a");
  EXPECT_EQ(result.steps, 60);  // 3 epochs of 320 / 16
  EXPECT_GT(result.eval.accuracy, 0.9);
  const auto train_lines = metrics(runs_ / "a", "train");
  ASSERT_EQ(train_lines.size(), 60u);
  for (const char* key : {"step", "epoch", "loss", "lr", "samples_per_sec", "data_wait_ms"}) {
    EXPECT_TRUE(train_lines[0].contains(key)) << key;
  }
  auto mean_loss = [&](size_t begin) {
    double sum = 0;
    for (size_t i = begin; i < begin + 5; ++i) sum += train_lines[i]["loss"].get<double>();
    return sum / 5;
  };
  EXPECT_LT(mean_loss(55), mean_loss(0) / 10);
  const auto eval_lines = metrics(runs_ / "a", "eval");
  ASSERT_EQ(eval_lines.size(), 3u);  // one per epoch
  EXPECT_DOUBLE_EQ(eval_lines.back()["accuracy"].get<double>(), result.eval.accuracy);
  const auto resolved = config::load_config(runs_ / "a/config.pbtxt");
  EXPECT_EQ(resolved.data().batch_size(), 16);
}

TEST_F(TrainerTest, SameSeedGivesTheSameLossAtEveryStepWhateverTheLoaderThreads) {
  train(small_config(data_.path(), {"data.loader.threads=1", "data.augment.random_crop_padding=2"}),
        runs_ / "a");
  train(small_config(data_.path(), {"data.loader.threads=3", "data.augment.random_crop_padding=2"}),
        runs_ / "b");
  const auto a = metrics(runs_ / "a", "train"), b = metrics(runs_ / "b", "train");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i]["loss"], b[i]["loss"]) << "step " << i + 1;
}

TEST_F(TrainerTest, MaxStepsAndEvalCadence) {
  const TrainResult result = train(
      small_config(data_.path(), {"train.max_steps=25", "train.eval_every_steps=10"}), runs_ / "a");
  EXPECT_EQ(result.steps, 25);
  const auto evals = metrics(runs_ / "a", "eval");
  ASSERT_EQ(evals.size(), 3u);  // steps 10, 20 and the end (25)
  EXPECT_EQ(evals[0]["step"], 10);
  EXPECT_EQ(evals[2]["step"], 25);
}

TEST_F(TrainerTest, AutomaticThreadsShareTheCoresAmongTheNodesProcesses) {
  // On the CPU: a GPU run keeps two host threads and gives the loader the rest.
  const auto config = small_config(data_.path(), {"runtime.threads=0", "data.loader.threads=0",
                                                  "runtime.device=cpu"});
  std::FILE* quiet = std::fopen("/dev/null", "w");
  TrainerOptions options;
  options.run_dir = runs_ / "threads";
  options.progress_out = quiet;
  options.local_world_size = 2;
  Trainer trainer(config, std::make_shared<tasks::ImageClassificationTask>(config), options);
  std::fclose(quiet);
  EXPECT_EQ(trainer.compute_threads(), std::max(1, available_cores() / 2));
  EXPECT_EQ(trainer.loader_threads(), std::max(1, available_cores() / 2 - trainer.compute_threads()));
}

// A spare builds its model while it waits for a rank (app/training.cpp): the Trainer that takes
// it starts exactly where one that built its own would, the global generator included.
TEST_F(TrainerTest, AModelBuiltAheadStartsAndTrainsAsTheOneTheTrainerWouldBuild) {
  const auto config = small_config(data_.path(), {"train.max_steps=5"});
  const auto task = tasks::make_task(config);
  std::FILE* quiet = std::fopen("/dev/null", "w");
  auto options_for = [&](const std::string& name) {
    TrainerOptions options;
    options.run_dir = runs_ / name;
    options.progress_out = quiet;
    return options;
  };
  Trainer own(config, task, options_for("own"));
  const std::string own_rng = torch_rng_state();
  const auto own_start = own.model().parameters();

  TrainerOptions options = options_for("ahead");
  options.model_built_ahead = Trainer::build_model_ahead(config, *task);
  const models::Model* built = options.model_built_ahead->model.get();
  torch::manual_seed(99);  // the spare's wait may draw numbers of its own
  Trainer ahead(config, task, options);
  EXPECT_EQ(&ahead.model(), built);
  EXPECT_TRUE(torch_rng_state() == own_rng) << "the global generator is not where building the model left it";
  const auto ahead_start = ahead.model().parameters();
  ASSERT_EQ(ahead_start.size(), own_start.size());
  for (size_t i = 0; i < own_start.size(); ++i) EXPECT_TRUE(torch::equal(ahead_start[i], own_start[i])) << i;

  own.run();
  ahead.run();
  std::fclose(quiet);
  const auto a = metrics(runs_ / "own", "train"), b = metrics(runs_ / "ahead", "train");
  ASSERT_EQ(a.size(), 5u);
  ASSERT_EQ(b.size(), a.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i]["loss"], b[i]["loss"]) << "step " << i + 1;
}

constexpr int kCsvRows = 200;  // per split, of write_csv_features (test_util.h)

// A linear model (the test plugin's) whose output is NaN for the marked rows.
config::TrainConfig nan_config(const std::string& data_dir, std::vector<std::string> extra = {}) {
  load_plugin(TRAINRT_TEST_PLUGIN_DIR "/libtrainrt_test_plugin.so");
  extra.insert(extra.begin(), {"data.format=csv", "data.batch_size=20", "model.name=test_nan_on_marked_rows"});
  return small_config(data_dir, extra);
}

bool all_finite(models::Model& model) {
  for (const auto& p : model.parameters()) {
    if (!torch::isfinite(p).all().item<bool>()) return false;
  }
  return true;
}

TEST(TrainerFormats, TrainsOnCsvFeatures) {
  TempDir data, runs;
  write_csv_features(data.path(), kCsvRows);
  const auto config = small_config(data.path(), {"data.format=csv", "data.batch_size=20"});
  const TrainResult result = train(config, runs / "csv");
  EXPECT_EQ(result.steps, 30);
  EXPECT_GT(result.eval.accuracy, 0.95);
}

TEST(TrainerNonfinite, StopsNamingTheRankAndStepByDefault) {
  TempDir data, runs;
  write_csv_features(data.path(), kCsvRows, {37});
  const auto config = nan_config(data.path());
  const std::string message = trainrt::testing::error_of([&] { train(config, runs / "stop"); });
  EXPECT_THAT(message, ::testing::ContainsRegex("rank 0 step [0-9]+: the loss is nan"));
  EXPECT_THAT(message, ::testing::HasSubstr("train.on_nonfinite: skip"));
}

TEST(TrainerNonfinite, SkipLeavesTheParametersAsTheyWereAndGoesOn) {
  TempDir data, runs;
  // One bad row: one batch of 20 in each of the 3 epochs holds it.
  write_csv_features(data.path(), kCsvRows, {37});
  const auto config = nan_config(data.path(), {"train.on_nonfinite=skip"});
  std::FILE* quiet = std::fopen("/dev/null", "w");
  TrainerOptions options;
  options.run_dir = runs / "skip";
  options.progress_out = quiet;
  Trainer trainer(config, tasks::make_task(config), options);
  const TrainResult result = trainer.run();
  std::fclose(quiet);
  EXPECT_EQ(result.steps, 30);
  EXPECT_EQ(result.skipped_steps, 3);
  EXPECT_TRUE(all_finite(trainer.model()));
  EXPECT_GT(result.eval.accuracy, 0.95);
  // Every logged loss is finite (a skipped step's loss is left out), and the count is logged.
  const auto lines = metrics(runs / "skip", "train");
  ASSERT_EQ(lines.size(), 30u);
  for (const auto& line : lines) EXPECT_TRUE(std::isfinite(line["loss"].get<double>())) << line.dump();
  EXPECT_EQ(lines.back()["skipped_steps"].get<double>(), 3.0);
}

TEST(TrainerNonfinite, SkipCountsContinueInAResumedRun) {
  // The counts travel in the train state (a checkpoint's, or a replica's to its replacement).
  TempDir data, runs;
  write_csv_features(data.path(), kCsvRows, {37});
  std::FILE* quiet = std::fopen("/dev/null", "w");
  auto run = [&](int64_t max_steps) {
    const auto config = nan_config(data.path(), {"train.on_nonfinite=skip",
                                                 "train.max_steps=" + std::to_string(max_steps)});
    TrainerOptions options;
    options.run_dir = runs / "resumed";
    options.progress_out = quiet;
    options.resume = "auto";
    Trainer trainer(config, tasks::make_task(config), options);
    return trainer.run();
  };
  const TrainResult first = run(15);
  const TrainResult rest = run(30);
  std::fclose(quiet);
  EXPECT_EQ(rest.resumed_step, 15);
  EXPECT_EQ(rest.steps, 30);
  EXPECT_GE(first.skipped_steps, 1);  // the first epoch's bad batch
  EXPECT_LT(first.skipped_steps, 3);
  EXPECT_EQ(rest.skipped_steps, 3);  // as the uninterrupted run's (above)
}

TEST(TrainerNonfinite, SkipStopsAfterTooManySkipsInARow) {
  TempDir data, runs;
  std::vector<int> every_row(kCsvRows);
  std::iota(every_row.begin(), every_row.end(), 0);
  write_csv_features(data.path(), kCsvRows, every_row);
  const auto config =
      nan_config(data.path(), {"train.on_nonfinite=skip", "train.max_consecutive_skips=4"});
  const std::string message = trainrt::testing::error_of([&] { train(config, runs / "diverged"); });
  EXPECT_THAT(message, ::testing::HasSubstr("rank 0 step 4: 4 steps in a row had non-finite gradients "
                                            "(train.max_consecutive_skips)"));
}

}  // namespace
}  // namespace trainrt::train
