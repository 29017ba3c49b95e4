// Inference bundles and the Predictor: export writes a bundle whole or not at all, the Predictor
// gives the trained model's own outputs from any number of threads, and a bundle from another
// version, with a missing or damaged file, or input of the wrong shape is a clear error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <thread>

#include "test_paths.h"  // TRAINRT_TEST_PLUGIN_DIR
#include "test_util.h"
#include "train/train_test_util.h"
#include "trainrt/ckpt/checksum.h"
#include "trainrt/ckpt/commit.h"
#include "trainrt/ckpt/state_dict.h"
#include "trainrt/ckpt/train_state.pb.h"
#include "trainrt/core/version.h"
#include "trainrt/data/idx.h"
#include "trainrt/trainrt.h"

namespace trainrt::infer {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

// Bundle `dir`'s file `name` replaced by `bytes`, and bundle.json listing them (size and CRC-32
// right: only what the bytes say can be wrong).
void replace_listed_file(const std::string& dir, const std::string& name, const std::string& bytes) {
  auto manifest = nlohmann::json::parse(testing::read_file(dir + "/bundle.json"));
  manifest["files"][name] = {{"bytes", bytes.size()}, {"crc32", ckpt::crc32_of(bytes)}};
  testing::write_file(dir + "/bundle.json", manifest.dump(2));
  testing::write_file(dir + "/" + name, bytes);
}

// A copy of the bundle `from` in `to`, with its file `name` replaced by `bytes` (as above).
void copy_with_file(const std::string& from, const std::string& to, const std::string& name,
                    const std::string& bytes) {
  std::filesystem::copy(from, to);
  replace_listed_file(to, name, bytes);
}

class BundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_idx_dataset(data_.path(), 160, 40, 8, 8);
    testing::train(testing::small_config(data_.path(), {"train.epochs=1"}), out_ / "run");
    bundle_ = export_bundle(out_ / "run", out_ / "bundle");
  }
  TempDir data_, out_;
  BundleInfo bundle_;
};

TEST_F(BundleTest, ExportedBundleRecordsTheModelAndPredictsItsOutputs) {
  EXPECT_EQ(bundle_.step, 10);
  EXPECT_EQ(bundle_.spec.input_shape, (std::vector<int64_t>{1, 8, 8}));
  EXPECT_EQ(bundle_.spec.num_outputs, 10);
  EXPECT_EQ(bundle_.files, (std::vector<std::string>{"config.pbtxt", "weights.pt"}));
  EXPECT_FALSE(std::filesystem::exists(out_ / "bundle.tmp"));

  const Predictor predictor(out_ / "bundle");
  EXPECT_FALSE(predictor.optimized());  // a built-in model runs as it is
  // The checkpoint's model, rebuilt here by hand, gives the same logits.
  auto model = models::ModelRegistry::instance().create(bundle_.config.model(), bundle_.spec);
  ckpt::load_model_state(*model, testing::read_file(out_ / "run/checkpoints/step-00000010/model.pt"), "model.pt");
  model->eval();
  const auto test = data::load_idx_split(data_.path(), "t10k", 0, 10);
  const torch::Tensor logits = predictor.predict_images(test.images);
  const torch::Tensor inputs = (test.images.to(torch::kFloat) / 255 - 0.2860) / 0.3530;
  EXPECT_TRUE(torch::allclose(logits, model->forward(inputs), 1e-5, 1e-5));
  EXPECT_TRUE(torch::equal(predictor.classify(test.images), logits.argmax(1)));
}

TEST_F(BundleTest, OnePredictorServesManyThreadsWithTheSameAnswers) {
  const Predictor predictor(out_ / "bundle");
  const torch::Tensor images = torch::randint(0, 256, {64, 1, 8, 8}, torch::kUInt8);
  const torch::Tensor expected = predictor.predict_images(images);
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) mismatches += !torch::equal(predictor.predict_images(images), expected);
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches, 0);
}

TEST_F(BundleTest, WrongInputIsNamed) {
  const Predictor predictor(out_ / "bundle");
  EXPECT_THAT(testing::error_of([&] { predictor.predict(torch::zeros({2, 1, 28, 28})); }),
              HasSubstr("predict: input [2, 1, 28, 28] does not fit the model's [N, 1, 8, 8]"));
  EXPECT_THAT(testing::error_of([&] { predictor.predict_images(torch::zeros({2, 1, 8, 8})); }),
              HasSubstr("predict_images: expected uint8 images [N, 1, 8, 8], got Float [2, 1, 8, 8]"));
  EXPECT_THAT(testing::error_of([&] { Predictor(out_ / "bundle", PredictorOptions{"tpu"}); }),
              HasSubstr("predictor device 'tpu': not a device"));
}

TEST_F(BundleTest, AnotherVersionAMissingOrDamagedFileIsRefusedNamingIt) {
  const std::string dir = out_ / "bundle";
  auto manifest = nlohmann::json::parse(testing::read_file(dir + "/bundle.json"));
  manifest["version"] = 2;
  manifest["trainrt"] = "0.9.0";
  testing::write_file(out_ / "v2.json", manifest.dump());
  std::filesystem::copy(dir, out_ / "v2");
  std::filesystem::copy_file(out_ / "v2.json", out_ / "v2/bundle.json", std::filesystem::copy_options::overwrite_existing);
  EXPECT_THAT(testing::error_of([&] { read_bundle(out_ / "v2"); }),
              HasSubstr(out_ / "v2/bundle.json: bundle version 2 (written by trainrt 0.9.0); this trainrt " +
                        kVersion + " reads version 1"));

  std::filesystem::copy(dir, out_ / "missing");
  std::filesystem::remove(out_ / "missing/weights.pt");
  EXPECT_THAT(testing::error_of([&] { Predictor predictor(out_ / "missing"); }),
              HasSubstr(out_ / "missing/weights.pt: missing or unreadable"));

  std::filesystem::copy(dir, out_ / "truncated");
  const std::string weights = testing::read_file(dir + "/weights.pt");
  testing::write_file(out_ / "truncated/weights.pt", weights.substr(0, weights.size() - 10));
  EXPECT_THAT(testing::error_of([&] { read_bundle(out_ / "truncated"); }),
              HasSubstr("weights.pt: " + std::to_string(weights.size() - 10) + " bytes"));

  EXPECT_THAT(testing::error_of([&] { read_bundle(out_.path()); }),
              HasSubstr("bundle.json: missing or unreadable; not a trainrt bundle"));
  EXPECT_THAT(testing::error_of([&] { export_bundle(out_ / "run", dir); }), HasSubstr(dir + ": exists already"));
}

TEST_F(BundleTest, AFileNameLeadingOutOfTheBundleIsRefused) {
  // bundle.json lists "../x", a file beside the bundle with the very size and CRC-32 listed.
  std::filesystem::create_directories(out_ / "escape");
  copy_with_file(out_ / "bundle", out_ / "escape/bundle", "../x", "not the bundle's");
  ASSERT_TRUE(std::filesystem::exists(out_ / "escape/x"));
  EXPECT_THAT(testing::error_of([&] { read_bundle(out_ / "escape/bundle"); }),
              HasSubstr(out_ / "escape/bundle/bundle.json: the file name '../x' is not a plain file name"));
  EXPECT_THAT(testing::error_of([&] { Predictor predictor(out_ / "escape/bundle"); }),
              HasSubstr("the file name '../x' is not a plain file name"));
}

TEST_F(BundleTest, TheConfigIsValidatedLikeAFileExceptThatItsDataNeedNotExist) {
  const config::TrainConfig exported = config::parse_config_text(testing::read_file(out_ / "bundle/config.pbtxt"), "x");
  config::TrainConfig moved = exported;
  moved.mutable_data()->set_dir(out_ / "no-such-data");  // used where the data never was
  copy_with_file(out_ / "bundle", out_ / "moved", "config.pbtxt", config::config_to_text(moved));
  const Predictor predictor(out_ / "moved");
  EXPECT_EQ(predictor.bundle().config.data().dir(), out_ / "no-such-data");
  EXPECT_EQ(predictor.classify(torch::zeros({3, 1, 8, 8}, torch::kUInt8)).sizes(), (std::vector<int64_t>{3}));

  config::TrainConfig invalid = exported;
  invalid.mutable_optimizer()->set_lr(-1);
  copy_with_file(out_ / "bundle", out_ / "invalid", "config.pbtxt", config::config_to_text(invalid));
  const std::string message = testing::error_of([&] { read_bundle(out_ / "invalid"); });
  EXPECT_THAT(message, HasSubstr(out_ / "invalid/config.pbtxt: invalid config:"));
  EXPECT_THAT(message, HasSubstr("optimizer.lr: -1 is out of range"));
}

TEST_F(BundleTest, ABundleNamingAPluginLoadsItOnlyWithTheApplicationsConsent) {
  // A bundle's config.pbtxt may list any library path; loading one runs its code in the
  // application. So a bundle of a plugin's model is refused unless the application agrees.
  const std::string plugin = std::string(TRAINRT_TEST_PLUGIN_DIR) + "/libtrainrt_test_plugin.so";
  config::TrainConfig with_plugin = config::parse_config_text(testing::read_file(out_ / "bundle/config.pbtxt"), "x");
  with_plugin.mutable_model()->set_name("test_linear");
  with_plugin.add_plugins(plugin);
  copy_with_file(out_ / "bundle", out_ / "plugin", "config.pbtxt", config::config_to_text(with_plugin));
  const std::string weights = ckpt::tensor_dict_bytes({{"fc.bias", torch::zeros({10})},
                                                       {"fc.weight", torch::ones({10, 64})}});
  replace_listed_file(out_ / "plugin", "weights.pt", weights);

  const std::string refused = testing::error_of([&] { Predictor predictor(out_ / "plugin"); });
  EXPECT_THAT(refused, HasSubstr(out_ / "plugin/config.pbtxt: names the plugin " + plugin));
  EXPECT_THAT(refused, HasSubstr("PredictorOptions::load_plugins"));
  PredictorOptions consent;
  consent.load_plugins = true;
  const Predictor predictor(out_ / "plugin", consent);
  EXPECT_EQ(predictor.predict(torch::ones({2, 1, 8, 8})).sizes(), (std::vector<int64_t>{2, 10}));

  // Refused before any attempt to load it: a path that does not exist is not what is reported.
  with_plugin.set_plugins(0, out_ / "no-such-plugin.so");
  copy_with_file(out_ / "plugin", out_ / "missing-plugin", "config.pbtxt", config::config_to_text(with_plugin));
  EXPECT_THAT(testing::error_of([&] { Predictor predictor(out_ / "missing-plugin"); }),
              HasSubstr("names the plugin " + (out_ / "no-such-plugin.so")));
}

TEST_F(BundleTest, ACheckpointWithoutTheModelsShapeIsNotExported) {
  // What a checkpoint of an older trainrt holds: no model shape in its train state.
  const std::string checkpoint = out_ / "run/checkpoints/step-00000010";
  ckpt::TrainState state;
  ASSERT_TRUE(state.ParseFromString(testing::read_file(checkpoint + "/train_state.pb")));
  state.clear_model_input_shape();
  ckpt::CheckpointPayload payload;
  payload.step = 10;
  for (const char* name : {"model.pt", "optimizer.pt", "config.pbtxt"}) {
    payload.files.push_back({name, testing::read_file(checkpoint + "/" + name), {}});
  }
  payload.files.push_back({"train_state.pb", state.SerializeAsString(), {}});
  const std::string old = ckpt::commit_checkpoint(out_ / "old", payload);
  EXPECT_THAT(testing::error_of([&] { export_bundle(old, out_ / "old-bundle"); }),
              HasSubstr("checkpoint '" + old + "' does not record the model's shape"));
  EXPECT_FALSE(std::filesystem::exists(out_ / "old-bundle"));
}

}  // namespace
}  // namespace trainrt::infer
