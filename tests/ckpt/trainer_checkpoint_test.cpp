// The one reader of a trainer checkpoint (ckpt/trainer_checkpoint.h) on checkpoints a real training
// wrote: its state, config and model shape; and a checkpoint whole on disk but wrong inside (no
// train state, one that does not parse, an invalid config, no model shape) refused or reported
// naming the checkpoint, as resume, export and generate all see it.
#include <filesystem>
#include <map>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_util.h"
#include "train/train_test_util.h"
#include "trainrt/ckpt/catalog.h"
#include "trainrt/ckpt/commit.h"
#include "trainrt/ckpt/state_dict.h"
#include "trainrt/ckpt/trainer_checkpoint.h"
#include "trainrt/config/load.h"
#include "trainrt/core/error.h"
#include "trainrt/core/files.h"
#include "trainrt/train/checkpoint_state.h"

namespace trainrt::ckpt {
namespace {

using ::testing::HasSubstr;
using trainrt::testing::TempDir;
using trainrt::testing::error_of;
using trainrt::testing::read_file;

class TrainerCheckpointTest : public ::testing::Test {
 protected:
  // One epoch of 10 steps of an MLP on 8x8 images; its data removed afterwards: a checkpoint is read
  // where the data is not (the config's data.dir no longer exists).
  void SetUp() override {
    const std::string data = dir_ / "data";
    std::filesystem::create_directories(data);
    trainrt::testing::write_idx_dataset(data, 160, 40, 8, 8);
    trainrt::testing::train(trainrt::testing::small_config(data, {"train.epochs=1"}), dir_ / "run");
    std::error_code ignored;
    remove_tree(data, ignored);
    ASSERT_FALSE(std::filesystem::exists(data));
  }

  // A whole checkpoint (manifest and CRCs right) under dir_/name holding the real one's files, with
  // `replaced` files' bytes replaced and `dropped` ones left out.
  std::string recommit(const std::string& name, const std::map<std::string, std::string>& replaced,
                       const std::set<std::string>& dropped = {}) {
    CheckpointPayload payload;
    payload.step = 10;
    for (const char* file : {kModelFile, kOptimizerFile, kTrainStateFile, kConfigFile}) {
      if (dropped.count(file)) continue;
      const auto edit = replaced.find(file);
      payload.files.push_back({file, edit != replaced.end() ? edit->second : read_file(checkpoint_ + "/" + file), {}});
    }
    return commit_checkpoint(dir_ / name, payload);
  }

  // The real checkpoint's train state, changed by `edit`, as bytes.
  template <typename Edit>
  std::string state_with(Edit edit) const {
    TrainState state;
    EXPECT_TRUE(state.ParseFromString(read_file(checkpoint_ + "/" + kTrainStateFile)));
    edit(state);
    return state.SerializeAsString();
  }

  TempDir dir_;
  const std::string checkpoint_ = dir_ / "run/checkpoints/step-00000010";
};

TEST_F(TrainerCheckpointTest, ReadsWhatTrainingWroteWithoutItsData) {
  TrainerCheckpoint checkpoint = open_trainer_checkpoint(dir_ / "run", nullptr, /*keep_contents=*/true);
  EXPECT_EQ(checkpoint.path(), checkpoint_);  // a run directory: its newest whole checkpoint
  EXPECT_EQ(checkpoint.state.step(), 10);
  EXPECT_EQ(checkpoint.state.batch_size(), 16);
  EXPECT_EQ(checkpoint.state.world_size(), 1);
  EXPECT_EQ(checkpoint.state.optimizer(), "sgd");
  EXPECT_EQ(checkpoint.config.model().name(), "mlp");
  EXPECT_EQ(checkpoint.config.data().batch_size(), 16);
  EXPECT_EQ(checkpoint.config.data().dir(), dir_ / "data");  // gone, and still a valid config

  // The shape the task derived from the data: one 8x8 grey image in, ten classes out.
  const models::ModelSpec& spec = checkpoint.model_spec();
  EXPECT_EQ(spec.input_shape, (std::vector<int64_t>{1, 8, 8}));
  EXPECT_EQ(spec.num_outputs, 10);
  EXPECT_EQ(spec.input_dtype, torch::kFloat);

  // The kept bytes are the file's; taken once, a second take reads the file again.
  const std::string model_bytes = read_file(checkpoint_ + "/" + kModelFile);
  EXPECT_EQ(checkpoint.take_file(kModelFile), model_bytes);
  EXPECT_EQ(checkpoint.files.contents.count(kModelFile), 0u);
  EXPECT_EQ(checkpoint.take_file(kModelFile), model_bytes);
  EXPECT_EQ(checkpoint.take_file(kOptimizerFile), read_file(checkpoint_ + "/" + kOptimizerFile));

  // The model rebuilt from the checkpoint alone holds the trained weights.
  auto model = build_trained_model(checkpoint.config, spec, model_bytes, "model.pt");
  const auto saved = read_tensor_dict(model_bytes, "model.pt");
  ASSERT_GT(model->named_parameters().size(), 0u);
  for (const auto& parameter : model->named_parameters()) {
    EXPECT_TRUE(torch::equal(parameter.value(), saved.at(parameter.key()))) << parameter.key();
  }
  EXPECT_EQ(model->forward(torch::zeros({2, 1, 8, 8})).sizes(), (std::vector<int64_t>{2, 10}));
}

TEST_F(TrainerCheckpointTest, TheModelSpecGoesInAndComesBackOut) {
  models::ModelSpec tokens;
  tokens.input_shape = {64};
  tokens.num_outputs = 256;
  tokens.input_dtype = torch::kLong;
  TrainState state;
  record_model_spec(tokens, state);
  record_model_spec(tokens, state);  // replaced, not appended
  const auto back = model_spec_of(state, "x");
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->input_shape, (std::vector<int64_t>{64}));
  EXPECT_EQ(back->num_outputs, 256);
  EXPECT_EQ(back->input_dtype, torch::kLong);
  EXPECT_FALSE(model_spec_of(TrainState(), "x").has_value());

  EXPECT_THAT(error_of([] { make_model_spec({1, 0, 8}, 10, "float", "here/train_state.pb"); }),
              HasSubstr("here/train_state.pb: the model's shape (input [1, 0, 8] of 'float', 10 outputs) is not "
                        "one trainrt writes"));
  EXPECT_THAT(error_of([] { make_model_spec({3}, 10, "double", "here"); }), HasSubstr("of 'double'"));
  EXPECT_THAT(error_of([] { make_model_spec({3}, 0, "long", "here"); }), HasSubstr("0 outputs"));
}

TEST_F(TrainerCheckpointTest, AMissingDamagedOrUnparsableTrainStateIsRefusedNamingIt) {
  const std::string missing = recommit("missing", {}, {kTrainStateFile});
  EXPECT_THAT(error_of([&] { open_trainer_checkpoint(missing); }),
              HasSubstr("checkpoint '" + missing + "' holds no train_state.pb (its manifest lists: "));

  const std::string garbage = recommit("garbage", {{kTrainStateFile, std::string(11, '\xff')}});
  EXPECT_THAT(error_of([&] { open_trainer_checkpoint(garbage); }),
              HasSubstr(garbage + "/train_state.pb: not a valid train state; use an earlier checkpoint"));
  // Resume reads it the same way, with the same words.
  EXPECT_THAT(error_of([&] { train::find_resume_files({garbage, ""}); }),
              HasSubstr(garbage + "/train_state.pb: not a valid train state"));

  // Changed on disk after it was written: the manifest's CRC-32 says so before anything is parsed.
  std::string state = read_file(checkpoint_ + "/" + kTrainStateFile);
  state[0] ^= 0x01;
  trainrt::testing::write_file(checkpoint_ + "/" + kTrainStateFile, state);
  EXPECT_THAT(error_of([&] { open_trainer_checkpoint(checkpoint_); }),
              HasSubstr("checkpoint '" + checkpoint_ + "' is broken: train_state.pb: CRC-32"));
}

TEST_F(TrainerCheckpointTest, AnInvalidConfigIsRefusedNamingTheCheckpointsFile) {
  config::TrainConfig config =
      config::parse_config_text(read_file(checkpoint_ + "/" + kConfigFile), "config.pbtxt");
  config.mutable_optimizer()->set_lr(-1);
  const std::string invalid = recommit("invalid", {{kConfigFile, config::config_to_text(config)}});
  const std::string message = error_of([&] { open_trainer_checkpoint(invalid); });
  EXPECT_THAT(message, HasSubstr(invalid + "/config.pbtxt: invalid config:"));
  EXPECT_THAT(message, HasSubstr("optimizer.lr: -1 is out of range"));
  EXPECT_THAT(message, ::testing::Not(HasSubstr("data.dir")));  // paths are not checked
  EXPECT_THAT(error_of([&] { train::find_resume_files({invalid, ""}); }),
              HasSubstr(invalid + "/config.pbtxt: invalid config:"));

  const std::string unparsable = recommit("unparsable", {{kConfigFile, "model { name: \"mlp\"\n"}});
  EXPECT_THAT(error_of([&] { open_trainer_checkpoint(unparsable); }), HasSubstr(unparsable + "/config.pbtxt:"));
}

TEST_F(TrainerCheckpointTest, ACheckpointWithoutTheModelsShapeResumesButCannotBuildTheModel) {
  const std::string old = recommit("old", {{kTrainStateFile, state_with([](TrainState& state) {
                                              state.clear_model_input_shape();
                                              state.clear_model_outputs();
                                              state.clear_model_input_dtype();
                                            })}});
  const TrainerCheckpoint checkpoint = open_trainer_checkpoint(old);
  EXPECT_FALSE(checkpoint.spec.has_value());
  EXPECT_THAT(error_of([&] { checkpoint.model_spec(); }),
              HasSubstr("checkpoint '" + old + "' does not record the model's shape (written by an older "
                        "trainrt); resume it for one step to write a new checkpoint"));
  // ... which is possible: resume needs no shape.
  const auto resumed = train::find_resume_files({old, ""});
  ASSERT_TRUE(resumed.has_value());
  EXPECT_EQ(resumed->path, old);
  EXPECT_EQ(resumed->state.step(), 10);
  EXPECT_EQ(resumed->model, read_file(checkpoint_ + "/" + kModelFile));

  // A recorded shape that no model has is refused when read, naming the file.
  const std::string zero = recommit("zero", {{kTrainStateFile, state_with([](TrainState& state) {
                                               state.set_model_outputs(0);
                                             })}});
  EXPECT_THAT(error_of([&] { open_trainer_checkpoint(zero); }),
              HasSubstr(zero + "/train_state.pb: the model's shape (input [1, 8, 8] of 'float', 0 outputs)"));
}

}  // namespace
}  // namespace trainrt::ckpt
