// The embedding API's Training: callbacks see every step and evaluation and can stop training on
// every rank at one step boundary; request_stop() from another thread; committed checkpoints are
// reported; a config in code is validated like a file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "test_util.h"
#include "train/train_test_util.h"
#include "trainrt/ckpt/commit.h"
#include "trainrt/trainrt.h"

namespace trainrt {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

class TrainingTest : public ::testing::Test {
 protected:
  void SetUp() override { testing::write_idx_dataset(data_.path(), 160, 40, 8, 8); }  // 10 steps an epoch
  TrainingOptions quiet(const std::string& run) {
    TrainingOptions options;
    options.run_dir = out_ / run;
    options.progress_out = nullptr;
    return options;
  }
  TempDir data_, out_;
};

TEST_F(TrainingTest, StepCallbackSeesEveryStepAndItsStopEndsTrainingThere) {
  auto config = testing::small_config(data_.path(), {"checkpoint.every_steps=4"});
  Training training(config, quiet("run"));
  std::vector<int64_t> steps;
  std::vector<int64_t> checkpoints;
  training.after_step([&](const train::StepInfo& step) {
    steps.push_back(step.step);
    EXPECT_EQ(step.total_steps, 30);
    EXPECT_TRUE(std::isfinite(step.loss.item<double>()));
    return step.step == 13 ? train::Action::kStop : train::Action::kContinue;
  });
  training.on_checkpoint([&](const train::CommittedCheckpoint& c) {
    checkpoints.push_back(c.step);
    EXPECT_EQ(c.path, out_ / ("run/checkpoints/" + ckpt::checkpoint_name(c.step)));
  });
  EXPECT_EQ(training.model(), nullptr);
  const train::TrainResult result = training.run();
  EXPECT_TRUE(result.stop_requested);
  EXPECT_EQ(result.stop_signal, 0);
  EXPECT_EQ(result.steps, 13);
  ASSERT_EQ(steps.size(), 13u);
  EXPECT_EQ(steps.front(), 1);
  EXPECT_EQ(steps.back(), 13);
  // Every 4 steps, the epoch end (10), and the stop (13, checkpoint.at_end), each reported once.
  ASSERT_FALSE(checkpoints.empty());
  EXPECT_EQ(checkpoints.back(), 13);
  EXPECT_TRUE(std::is_sorted(checkpoints.begin(), checkpoints.end()));
  EXPECT_EQ(std::adjacent_find(checkpoints.begin(), checkpoints.end()), checkpoints.end());
  ASSERT_NE(training.model(), nullptr);
  EXPECT_THAT(testing::error_of([&] { training.run(); }), HasSubstr("has run already"));
  // A resumed run continues from the stop.
  Training again(config, quiet("run"));
  EXPECT_EQ(again.run().resumed_step, 13);
}

TEST_F(TrainingTest, EvaluationCallbackStopsAfterTheEvaluationThatSatisfiesIt) {
  Training training(testing::small_config(data_.path(), {"train.eval_every_steps=5"}), quiet("run"));
  std::vector<int64_t> evaluated;
  training.after_evaluation([&](int64_t step, const train::EvalResult& eval) {
    evaluated.push_back(step);
    EXPECT_GT(eval.samples, 0);
    return step >= 15 ? train::Action::kStop : train::Action::kContinue;
  });
  const auto result = training.run();
  EXPECT_EQ(evaluated, (std::vector<int64_t>{5, 10, 15}));
  EXPECT_EQ(result.steps, 15);
  EXPECT_TRUE(result.stop_requested);
}

TEST_F(TrainingTest, RequestStopFromAnotherThreadAndBeforeRun) {
  Training training(testing::small_config(data_.path(), {"train.epochs=1000"}), quiet("run"));
  std::atomic<int64_t> seen{0};
  training.after_step([&](const train::StepInfo& step) {
    seen = step.step;
    return train::Action::kContinue;
  });
  std::thread stopper([&] {
    while (seen < 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    training.request_stop();
  });
  const auto result = training.run();
  stopper.join();
  EXPECT_TRUE(result.stop_requested);
  EXPECT_GE(result.steps, 3);
  EXPECT_LT(result.steps, 10000);

  Training early(testing::small_config(data_.path()), quiet("early"));
  early.request_stop();
  EXPECT_EQ(early.run().steps, 1);  // the step in progress is the first
}

TEST_F(TrainingTest, ACallbackThatThrowsEndsTheRunWithItsError) {
  Training training(testing::small_config(data_.path()), quiet("run"));
  training.after_step([](const train::StepInfo& step) -> train::Action {
    if (step.step == 2) throw DataError("the application's check failed");
    return train::Action::kContinue;
  });
  EXPECT_THAT(testing::error_of([&] { training.run(); }), HasSubstr("the application's check failed"));
}

TEST_F(TrainingTest, ConfigsFromTextAndCodeAreValidatedLikeFiles) {
  const std::string bad = "data { dir: '" + data_.path() + "' batch_size: 0 }";
  EXPECT_THAT(testing::error_of([&] { Training::from_text(bad, {}, quiet("a"), "app.pbtxt"); }),
              HasSubstr("app.pbtxt: invalid config:\n  data.batch_size: 0 is out of range"));
  EXPECT_THAT(testing::error_of([&] { Training::from_text("data { batch: 3 }", {}, quiet("a"), "app.pbtxt"); }),
              HasSubstr("app.pbtxt"));
  config::TrainConfig config;
  config.mutable_data()->set_dir(data_.path());
  config.mutable_optimizer()->set_lr(-1);
  EXPECT_THAT(testing::error_of([&] { Training training(config); }), HasSubstr("optimizer.lr"));
  // Formats are checked when the data is opened: applications and plugins may register their own.
  Training parquet(testing::small_config(data_.path(), {"data.format=parquet"}), quiet("c"));
  EXPECT_THAT(testing::error_of([&] { parquet.run(); }),
              HasSubstr("data.format: unknown data format 'parquet' (known: cifar10, csv, idx, image_folder, records"));
  // The default run directory is runs/<name>, for a name that is a plain one; any name still
  // trains into a run directory given.
  TrainingOptions no_run_dir = quiet("d");
  no_run_dir.run_dir = "";
  for (const char* name : {"../x", "a/b", ".."}) {
    Training named(testing::small_config(data_.path(), {std::string("name=") + name}), no_run_dir);
    EXPECT_THAT(testing::error_of([&] { named.run(); }),
                HasSubstr("name: '" + std::string(name) + "' is not a plain name"));
  }
  EXPECT_EQ(Training(testing::small_config(data_.path(), {"name=a/b", "train.max_steps=2"}), quiet("e")).run().steps, 2);
  // Defaults are filled in: the same config as the file would give.
  Training from_code(testing::small_config(data_.path()), quiet("b"));
  EXPECT_EQ(from_code.config().data().mean_size(), 1);
}

}  // namespace
}  // namespace trainrt
