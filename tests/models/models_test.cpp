// The model registry and the built-in models.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "trainrt/config/load.h"
#include "trainrt/core/error.h"
#include "trainrt/models/registry.h"

namespace trainrt::models {
namespace {

config::ModelConfig model_config(const std::string& name) {
  config::TrainConfig config = config::resolve_config(
      config::parse_config_text("", "t"), {"data.dir=" + ::testing::TempDir()}, "t");
  config.mutable_model()->set_name(name);
  return config.model();
}

int64_t parameter_count(Model& model) {
  int64_t n = 0;
  for (const auto& p : model.parameters()) n += p.numel();
  return n;
}

TEST(ModelRegistry, EveryRegisteredModelBuildsAndClassifies) {
  const ModelSpec spec{{1, 28, 28}, 10};
  for (const auto& name : ModelRegistry::instance().names()) {
    if (name == "gpt") continue;  // a language model: tokens in (gpt_test.cpp)
    if (name == "torchscript") continue;  // needs a module file (torchscript_test.cpp)
    auto model = ModelRegistry::instance().create(model_config(name), spec);
    const auto out = model->forward(torch::randn({3, 1, 28, 28}));
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{3, 10})) << name;
    out.sum().backward();
    for (const auto& p : model->parameters()) EXPECT_TRUE(p.grad().defined()) << name;
  }
  EXPECT_GE(ModelRegistry::instance().names().size(), 3u);
}

TEST(ModelRegistry, UnknownNameListsKnownNames) {
  try {
    ModelRegistry::instance().create(model_config("transformer"), {{1, 28, 28}, 10});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("unknown model 'transformer' (known: cnn, gpt, mlp, resnet"));
  }
}

TEST(ModelRegistry, ApplicationsCanRegisterModels) {
  ModelRegistry::instance().add("linear_test", [](const config::ModelConfig&, const ModelSpec& s) {
    struct Linear : Model {
      explicit Linear(int64_t out) : fc(register_module("fc", torch::nn::Linear(784, out))) {}
      torch::Tensor forward(torch::Tensor x) override { return fc(x.flatten(1)); }
      torch::nn::Linear fc;
    };
    return std::shared_ptr<Model>(std::make_shared<Linear>(s.num_outputs));
  });
  auto model = ModelRegistry::instance().create(model_config("linear_test"), {{1, 28, 28}, 10});
  EXPECT_EQ(parameter_count(*model), 7850);
  EXPECT_THROW(ModelRegistry::instance().add("linear_test", nullptr), Error);
}

TEST(Cnn, ParameterCountMatchesTheClosedForm) {
  auto model = ModelRegistry::instance().create(model_config("cnn"), {{1, 28, 28}, 10});
  const int64_t conv1 = 32 * 1 * 9 + 32, conv2 = 64 * 32 * 9 + 64;
  const int64_t fc = 64 * 7 * 7 * 128 + 128, classifier = 128 * 10 + 10;
  EXPECT_EQ(parameter_count(*model), conv1 + conv2 + fc + classifier);
}

TEST(Mlp, ParameterCountMatchesTheClosedForm) {
  auto model = ModelRegistry::instance().create(model_config("mlp"), {{1, 28, 28}, 10});
  EXPECT_EQ(parameter_count(*model),
            (784 * 256 + 256) + (256 * 128 + 128) + (128 * 64 + 64) + (64 * 10 + 10));
}

TEST(Cnn, TooManyBlocksForTheImageIsAConfigError) {
  auto config = model_config("cnn");
  config.mutable_cnn()->clear_channels();
  for (int i = 0; i < 4; ++i) config.mutable_cnn()->add_channels(4);
  EXPECT_THROW(ModelRegistry::instance().create(config, {{1, 8, 8}, 10}), Error);
}

}  // namespace
}  // namespace trainrt::models
