// The GPT decoder: causal, its output projection tied to the token embedding, the parameter count
// of its closed form, the same logits as the same network written in PyTorch with the same weights,
// and the optimizer groups a transformer is trained with.
#include <cstdlib>
#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_paths.h"  // TRAINRT_BIN, TRAINRT_SOURCE_DIR, ... (tests/CMakeLists.txt)
#include "test_util.h"
#include "trainrt/ckpt/state_dict.h"
#include "trainrt/config/load.h"
#include "trainrt/models/registry.h"
#include "trainrt/optim/optimizer.h"
#include "trainrt/optim/state.h"

namespace trainrt::models {
namespace {

using trainrt::testing::TempDir;
using trainrt::testing::read_file;
using trainrt::testing::write_file;

constexpr int64_t kVocab = 256, kLayers = 2, kWidth = 32, kHeads = 4, kContext = 16;

std::shared_ptr<Model> make_test_gpt(double dropout = 0.0) {
  config::ModelConfig config;
  config.set_name("gpt");
  config.mutable_gpt()->set_layers(kLayers);
  config.mutable_gpt()->set_width(kWidth);
  config.mutable_gpt()->set_heads(kHeads);
  config.mutable_gpt()->set_context(kContext);
  config.mutable_gpt()->set_dropout(static_cast<float>(dropout));
  torch::manual_seed(7);
  auto model = ModelRegistry::instance().create(config, {{kContext}, kVocab});
  model->eval();
  return model;
}

torch::Tensor random_tokens(int64_t rows, int64_t length) {
  return torch::randint(0, 200, {rows, length}, torch::kInt64);  // tokens 200..255 stay unused
}

TEST(Gpt, NoPositionAttendsAhead) {
  auto model = make_test_gpt();
  torch::NoGradGuard no_grad;
  const auto tokens = random_tokens(2, kContext);
  const auto logits = model->forward(tokens);
  ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{2, kContext, kVocab}));
  for (const int64_t changed : {int64_t{3}, int64_t{9}, kContext - 1}) {
    auto perturbed = tokens.clone();
    perturbed.select(1, changed).add_(1);
    const auto other = model->forward(perturbed);
    EXPECT_TRUE(torch::equal(other.narrow(1, 0, changed), logits.narrow(1, 0, changed)))
        << "a token at " << changed << " changed an earlier position's logits";
    EXPECT_FALSE(torch::allclose(other.select(1, changed), logits.select(1, changed)));
  }
  // Shorter inputs are fine; longer than the context are not.
  EXPECT_EQ(model->forward(random_tokens(1, 5)).size(1), 5);
  EXPECT_THROW(model->forward(random_tokens(1, kContext + 1)), Error);
}

TEST(Gpt, OutputProjectionIsTheTokenEmbeddingAndTheCountIsTheClosedForm) {
  auto model = make_test_gpt();
  int64_t count = 0;
  for (const auto& item : model->named_parameters()) {
    count += item.value().numel();
    if (item.key() != "wte.weight") EXPECT_NE(item.value().size(0), kVocab) << item.key() << ": an untied head";
  }
  // wte, wpe, per block 2 layer norms + qkv + attention projection + MLP, the final norm.
  const int64_t c = kWidth;
  EXPECT_EQ(count, kVocab * c + kContext * c + kLayers * (12 * c * c + 13 * c) + 2 * c);
  // Tokens 200..255 are never input: their embedding rows reach the logits only as the output
  // projection, so changing row 250 changes exactly the logits of token 250.
  torch::NoGradGuard no_grad;
  const auto tokens = random_tokens(1, kContext);
  const auto before = model->forward(tokens);
  model->named_parameters()["wte.weight"][250].add_(0.5);
  const auto after = model->forward(tokens);
  EXPECT_FALSE(torch::allclose(after.select(2, 250), before.select(2, 250)));
  EXPECT_TRUE(torch::equal(after.narrow(2, 0, 250), before.narrow(2, 0, 250)));
}

TEST(Gpt, GivesPyTorchsLogitsWithTheSameWeights) {
  if (std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "python3-torch is not installed";
  }
  auto model = make_test_gpt();
  TempDir dir;
  write_file(dir / "model.pt", ckpt::model_state_bytes(*model));
  const auto tokens = random_tokens(3, kContext);
  torch::Tensor logits;
  {
    torch::NoGradGuard no_grad;
    logits = model->forward(tokens);
  }
  write_file(dir / "tensors.pt", ckpt::tensor_dict_bytes({{"logits", logits}, {"tokens", tokens}}));
  const std::string source = TRAINRT_SOURCE_DIR;
  const std::string command = "/usr/bin/python3 " + source + "/tools/bench/peers/gpt.py parity " +
                              (dir / "model.pt") + " " + (dir / "tensors.pt") + " --heads " +
                              std::to_string(kHeads) + " > " + (dir / "out.txt") + " 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << read_file(dir / "out.txt");
  const std::string out = read_file(dir / "out.txt");
  ASSERT_THAT(out, ::testing::StartsWith("max_abs_diff ")) << out;
  EXPECT_LT(std::stod(out.substr(13)), 1e-5) << out;
}

TEST(Gpt, OneDimensionalParametersGoWithoutWeightDecayAndTheirStateRoundTrips) {
  auto model = make_test_gpt();
  model->train();
  config::OptimizerConfig config;
  config.set_name("adamw");
  config.set_lr(0.01);
  config.set_weight_decay(0.1);
  config.set_decay_1d_parameters(false);
  auto optimizer = optim::make_optimizer(config, model->parameters());
  ASSERT_EQ(optimizer->param_groups().size(), 2u);
  const auto& decayed = optimizer->param_groups()[0];
  const auto& undecayed = optimizer->param_groups()[1];
  EXPECT_EQ(static_cast<const torch::optim::AdamWOptions&>(decayed.options()).weight_decay(), 0.1);
  EXPECT_EQ(static_cast<const torch::optim::AdamWOptions&>(undecayed.options()).weight_decay(), 0.0);
  for (const auto& p : decayed.params()) EXPECT_GE(p.dim(), 2);
  for (const auto& p : undecayed.params()) EXPECT_EQ(p.dim(), 1);
  const auto names = optim::optimizer_parameter_names(*optimizer, *model);
  EXPECT_EQ(names.front(), "wte.weight");
  EXPECT_THAT(names, ::testing::Contains("ln_f.bias"));

  auto step = [&](torch::optim::Optimizer& opt) {
    opt.zero_grad();
    model->forward(random_tokens(2, kContext)).pow(2).mean().backward();
    opt.step();
  };
  torch::manual_seed(1);
  step(*optimizer);
  const auto saved = ckpt::tensor_dict_bytes(optim::optimizer_state(*optimizer, names));
  // A second optimizer restored from the first one's state takes the same next step.
  auto restored = optim::make_optimizer(config, model->parameters());
  optim::load_optimizer_state(*restored, optim::optimizer_parameter_names(*restored, *model),
                              ckpt::read_tensor_dict(saved, "optimizer.pt"), "optimizer.pt");
  std::vector<torch::Tensor> start;
  for (const auto& p : model->parameters()) start.push_back(p.detach().clone());
  torch::manual_seed(2);
  step(*optimizer);
  std::vector<torch::Tensor> expected;
  for (const auto& p : model->parameters()) expected.push_back(p.detach().clone());
  {
    torch::NoGradGuard no_grad;
    auto params = model->parameters();
    for (size_t i = 0; i < params.size(); ++i) params[i].copy_(start[i]);
  }
  torch::manual_seed(2);
  step(*restored);
  const auto params = model->parameters();
  for (size_t i = 0; i < params.size(); ++i) EXPECT_TRUE(torch::equal(params[i], expected[i])) << names[i];
}

}  // namespace
}  // namespace trainrt::models
