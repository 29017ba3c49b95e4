// Checkpoints through the Trainer, in-process: a run resumed from any of its checkpoints ends with
// the same parameters and per-step losses as the run that was never interrupted, bit for bit; a
// broken newest checkpoint is skipped; what cannot be resumed is refused with a clear error.
#include <filesystem>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_util.h"
#include "train/train_test_util.h"
#include "trainrt/ckpt/catalog.h"
#include "trainrt/ckpt/trainer_checkpoint.h"
#include "trainrt/core/directory_lock.h"
#include "trainrt/core/error.h"
#include "trainrt/train/checkpoint_state.h"
#include "trainrt/train/checkpointer.h"

namespace trainrt::train {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using trainrt::testing::TempDir;
using trainrt::testing::metrics;
using trainrt::testing::read_file;
using trainrt::testing::small_config;
using trainrt::testing::train;

// Dropout (LibTorch's RNG) and AdamW (per-parameter step counts and moments) make every piece of
// the state matter; 20 steps per epoch, checkpoints every 10 steps, all kept.
config::TrainConfig resumable_config(const std::string& data_dir, std::vector<std::string> extra = {}) {
  std::vector<std::string> overrides{"model.mlp.dropout=0.2", "optimizer.name=adamw", "optimizer.lr=0.01",
                                     "checkpoint.every_steps=10", "checkpoint.keep_last=0"};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  return small_config(data_dir, overrides);
}

std::string final_model(const std::string& run_dir) {
  return read_file(run_dir + "/checkpoints/step-00000060/" + ckpt::kModelFile);
}

std::map<int64_t, double> losses(const std::string& run_dir) {
  std::map<int64_t, double> by_step;
  for (const auto& line : metrics(run_dir, "train")) by_step[line["step"]] = line["loss"];
  return by_step;
}

class Resume : public ::testing::Test {
 protected:
  void SetUp() override {
    trainrt::testing::write_idx_dataset(data_.path(), 320, 100, 8, 8);
    const TrainResult full = train(resumable_config(data_.path()), runs_ / "full");
    ASSERT_EQ(full.steps, 60);
    EXPECT_EQ(full.last_checkpoint, runs_ / "full/checkpoints/step-00000060");
  }

  // A new run directory holding copies of the full run's checkpoints of `steps`.
  std::string run_with_checkpoints(const std::string& name, const std::vector<std::string>& steps) {
    const std::string run = runs_ / name;
    fs::create_directories(run + "/checkpoints");
    for (const auto& step : steps) {
      fs::copy(runs_ / ("full/checkpoints/step-000000" + step), run + "/checkpoints/step-000000" + step,
               fs::copy_options::recursive);
    }
    return run;
  }

  TempDir data_, runs_;
};

TEST_F(Resume, FromAnyCheckpointEndsBitForBitLikeTheUninterruptedRun) {
  const auto expected_losses = losses(runs_ / "full");
  for (const std::string step : {"10", "20", "30", "50"}) {  // mid-epoch and at an epoch's end
    const std::string run = run_with_checkpoints("from" + step, {step});
    const TrainResult resumed = train(resumable_config(data_.path()), run, "auto");
    EXPECT_EQ(resumed.resumed_step, std::stoi(step));
    EXPECT_EQ(resumed.steps, 60);
    EXPECT_EQ(final_model(run), final_model(runs_ / "full")) << "resumed from step " << step;
    const auto resumed_losses = losses(run);
    ASSERT_EQ(resumed_losses.size(), 60u - std::stoul(step));
    for (const auto& [s, loss] : resumed_losses) EXPECT_EQ(loss, expected_losses.at(s)) << "step " << s;
  }
}

TEST_F(Resume, FromAnExplicitCheckpointPathIntoAnotherRunDirectory) {
  const TrainResult resumed = train(resumable_config(data_.path()), runs_ / "other",
                                    runs_ / "full/checkpoints/step-00000040");
  EXPECT_EQ(resumed.resumed_step, 40);
  EXPECT_EQ(final_model(runs_ / "other"), final_model(runs_ / "full"));
}

TEST_F(Resume, ABrokenNewestCheckpointIsSkippedForTheOneBefore) {
  const std::string run = run_with_checkpoints("broken", {"30", "40"});
  std::string model = read_file(run + "/checkpoints/step-00000040/" + ckpt::kModelFile);
  model[model.size() / 2] ^= 0x10;
  trainrt::testing::write_file(run + "/checkpoints/step-00000040/" + ckpt::kModelFile, model);
  // Asked for by path, the broken one is an error rather than a silent substitute.
  EXPECT_THAT(trainrt::testing::error_of([&] {
                train(resumable_config(data_.path()), runs_ / "x", run + "/checkpoints/step-00000040");
              }),
              HasSubstr("step-00000040' is broken: model.pt: CRC-32"));
  const TrainResult resumed = train(resumable_config(data_.path()), run, "auto");
  EXPECT_EQ(resumed.resumed_step, 30);
  EXPECT_EQ(final_model(run), final_model(runs_ / "full"));
}

TEST_F(Resume, AFinishedRunResumesToNothingLeftAndReportsItsEvaluation) {
  const TrainResult again = train(resumable_config(data_.path()), runs_ / "full", "auto");
  EXPECT_EQ(again.resumed_step, 60);
  EXPECT_EQ(again.steps, 60);
  EXPECT_GT(again.eval.samples, 0);
  EXPECT_EQ(losses(runs_ / "full").size(), 60u);  // metrics.jsonl kept whole
}

TEST_F(Resume, RefusesWhatCannotBeResumed) {
  // "never" would replace the run's checkpoints.
  EXPECT_THAT(trainrt::testing::error_of([&] { train(resumable_config(data_.path()), runs_ / "full", "never"); }),
              HasSubstr("--resume never: '" + runs_ / "full/checkpoints' already holds checkpoints"));
  // Another optimizer's state, and another architecture, even when the change is accepted (the
  // checkpoint named).
  const std::string newest = runs_ / "full/checkpoints/step-00000060";
  EXPECT_THAT(trainrt::testing::error_of([&] {
                train(resumable_config(data_.path(), {"optimizer.name=sgd"}), runs_ / "full", newest);
              }),
              HasSubstr("optimizer.name: 'sgd', but checkpoint " + newest + " holds the state of 'adamw'"));
  EXPECT_THAT(trainrt::testing::error_of([&] {
                train(resumable_config(data_.path(), {"model.mlp.hidden=16"}), runs_ / "full", newest);
              }),
              HasSubstr("model.pt: 'classifier.weight' has shape [10, 32], the model's is [10, 16]"));
  // A checkpoint directory that cannot be created fails before training, not after.
  trainrt::testing::write_file(runs_ / "a-file", "x");
  EXPECT_THAT(trainrt::testing::error_of([&] {
                train(resumable_config(data_.path(), {"checkpoint.dir=" + runs_ / "a-file/ckpt"}), runs_ / "y");
              }),
              HasSubstr("cannot create checkpoint directory '" + runs_ / "a-file/ckpt'"));
}

// Found by trying (2026-11-30): a second job whose default run directory was the first's resumed
// the first's checkpoint with its own learning rate, silently.
TEST_F(Resume, AnAutomaticResumeRefusesACheckpointOfAnotherConfigNamingEveryChange) {
  const auto other = resumable_config(data_.path(), {"optimizer.lr=0.02", "model.mlp.dropout=0.1",
                                                     "train.max_steps=70", "checkpoint.keep_last=5"});
  const std::string error = trainrt::testing::error_of([&] { train(other, runs_ / "full", "auto"); });
  EXPECT_THAT(error, HasSubstr("checkpoint " + runs_ / "full/checkpoints/step-00000060" +
                               " was written with another config; these fields change what training computes:"));
  EXPECT_THAT(error, HasSubstr("\n  model.mlp.dropout: 0.2 in the checkpoint, 0.1 in this run"));
  EXPECT_THAT(error, HasSubstr("\n  optimizer.lr: 0.01 in the checkpoint, 0.02 in this run"));
  EXPECT_THAT(error, HasSubstr("--accept-config-changes"));
  // How long it trains and how it checkpoints may change without a word.
  EXPECT_THAT(error, ::testing::Not(HasSubstr("train.max_steps")));
  EXPECT_THAT(error, ::testing::Not(HasSubstr("checkpoint.keep_last")));
  EXPECT_EQ(losses(runs_ / "full").size(), 60u);  // nothing written
  // The batch per rank counts through the global batch (Recovery.StoppedBySigtermThenResumedByOne-
  // ProcessWithTheSameGlobalBatch resumes 2 x 8 as 1 x 16).
  EXPECT_THAT(trainrt::testing::error_of([&] {
                train(resumable_config(data_.path(), {"data.batch_size=32"}), runs_ / "full", "auto");
              }),
              HasSubstr("data.batch_size: 16 in the checkpoint, 32 in this run (a global batch of 32, not 16)"));

  const TrainResult longer = train(resumable_config(data_.path(), {"train.epochs=4"}), runs_ / "full", "auto");
  EXPECT_EQ(longer.resumed_step, 60);
  EXPECT_EQ(longer.steps, 80);
  const auto changes = metrics(runs_ / "full", "config_change");
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0]["field"], "train.epochs");
  EXPECT_EQ(changes[0]["step"], 60);
}

TEST_F(Resume, AnAcceptedChangeIsRecordedInMetricsAndTheLog) {
  TrainerOptions options;
  options.run_dir = run_with_checkpoints("accepted", {"40"});
  options.resume = "auto";
  options.accept_config_changes = true;
  const std::string log = options.run_dir + "/log.txt";
  options.progress_out = std::fopen(log.c_str(), "w");
  const auto config = resumable_config(data_.path(), {"optimizer.lr=0.02"});
  Trainer(config, tasks::make_task(config), options).run();
  std::fclose(options.progress_out);
  const auto changes = metrics(options.run_dir, "config_change");
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0]["field"], "optimizer.lr");
  EXPECT_EQ(changes[0]["checkpoint"], "0.01");
  EXPECT_EQ(changes[0]["run"], "0.02");
  EXPECT_THAT(read_file(log), HasSubstr("config changed since the checkpoint: optimizer.lr 0.01 -> 0.02"));
}

// Found by trying (2026-11-30): after a rollback to step 40 that trained to 45, the abandoned 50
// and 60 were kept, 40 pruned, and the next automatic resume continued the abandoned 60.
TEST_F(Resume, ARollbackSetsTheAbandonedBranchAsideAndTheNextResumeContinuesTheLiveOne) {
  const std::string run = run_with_checkpoints("rollback", {"30", "40", "50", "60"});
  const std::string root = run + "/checkpoints";
  const auto branch = resumable_config(data_.path(), {"optimizer.lr=0.005", "train.max_steps=45",
                                                      "checkpoint.keep_last=3"});
  const TrainResult rolled_back = train(branch, run, root + "/step-00000040");
  EXPECT_EQ(rolled_back.resumed_step, 40);
  EXPECT_EQ(rolled_back.last_checkpoint, root + "/step-00000045");
  // The live branch (45, 40, 30) is kept whole; the abandoned one went first.
  EXPECT_EQ(ckpt::list_checkpoints(root),
            (std::vector<std::string>{root + "/step-00000045", root + "/step-00000040", root + "/step-00000030"}));
  EXPECT_FALSE(fs::exists(root + "/abandoned-step-00000060"));
  EXPECT_FALSE(fs::exists(root + "/abandoned-step-00000050"));
  EXPECT_EQ(read_file(root + "/latest"), "step-00000045\n");
  // The next automatic resume continues the live branch, with the branch's config.
  const TrainResult next = train(resumable_config(data_.path(), {"optimizer.lr=0.005", "train.max_steps=50",
                                                                 "checkpoint.keep_last=3"}),
                                 run, "auto");
  EXPECT_EQ(next.resumed_step, 45);
}

TEST_F(Resume, ARollbackWithRoomKeepsTheAbandonedBranchAsideNeverToBeResumed) {
  const std::string run = run_with_checkpoints("aside", {"40", "50", "60"});
  const std::string root = run + "/checkpoints";
  // Stopped before its first checkpoint: the rollback itself is what an automatic resume sees.
  const TrainResult rolled_back = train(resumable_config(data_.path(), {"train.max_steps=40"}), run,
                                        root + "/step-00000040");
  EXPECT_EQ(rolled_back.resumed_step, 40);
  EXPECT_TRUE(fs::exists(root + "/abandoned-step-00000050/" + ckpt::kModelFile));
  EXPECT_TRUE(fs::exists(root + "/abandoned-step-00000060/" + ckpt::kModelFile));
  const TrainResult next = train(resumable_config(data_.path(), {"train.max_steps=40"}), run, "auto");
  EXPECT_EQ(next.resumed_step, 40);
}

TEST_F(Resume, ASecondJobInTheSameRunDirectoryIsRefusedNamingTheFirst) {
  const DirectoryLock first(runs_ / "full", "run directory");
  const std::string error = trainrt::testing::error_of([&] { train(resumable_config(data_.path()), runs_ / "full", "auto"); });
  EXPECT_THAT(error, HasSubstr("run directory '" + runs_ / "full" + "' is in use by another trainrt job (pid " +
                               std::to_string(getpid()) + " on host "));
  EXPECT_THAT(error, HasSubstr("train into another --run-dir"));
  // A checkpoint.dir outside the run directory is held too: two run directories, one checkpoint root.
  const DirectoryLock shared(runs_ / "shared", "checkpoint directory");
  EXPECT_THAT(trainrt::testing::error_of([&] {
                train(resumable_config(data_.path(), {"checkpoint.dir=" + runs_ / "shared"}), runs_ / "elsewhere");
              }),
              HasSubstr("checkpoint directory '" + runs_ / "shared" + "' is in use by another trainrt job"));
}

TEST(CheckpointerCadence, EveryNStepsAndEveryMMinutes) {
  TempDir root;
  config::CheckpointConfig steps;
  steps.set_every_steps(5);
  Checkpointer by_steps(steps, root.path(), /*resumed_step=*/-1);
  EXPECT_FALSE(by_steps.due(4));
  EXPECT_TRUE(by_steps.due(5));
  EXPECT_TRUE(by_steps.due(10));

  config::CheckpointConfig minutes;
  minutes.set_every_minutes(0.002);  // 120 ms
  Checkpointer by_time(minutes, root.path(), /*resumed_step=*/7);
  EXPECT_TRUE(by_time.saved(7));  // the checkpoint it resumed from counts as written
  EXPECT_FALSE(by_time.due(8));
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_TRUE(by_time.due(9));
  by_time.save(9, [] {
    TrainingSnapshot snapshot;
    snapshot.state.set_step(9);
    snapshot.model = {{"w", torch::ones({2})}};
    return snapshot;
  }, /*wait=*/true);
  EXPECT_TRUE(by_time.saved(9));
  EXPECT_FALSE(by_time.due(10));  // the clock restarts at each checkpoint
  EXPECT_EQ(by_time.take_error(), "");
  EXPECT_EQ(by_time.last_committed(), root / "step-00000009");
}

}  // namespace
}  // namespace trainrt::train
