// TorchScript models: a module scripted by Python's torch.jit.script is trained through its own
// tensors (the optimizer changes what the module computes), under its Python parameter names,
// and checkpoints resume it; a module that does not fit the task is refused naming its file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_util.h"
#include "train/train_test_util.h"
#include "trainrt/models/registry.h"
#include "trainrt/models/torchscript.h"

namespace trainrt::models {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

class TorchScriptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("/usr/bin/python3 -c 'import torch' 2>/dev/null") != 0) {
      GTEST_SKIP() << "python3-torch is not installed (it scripts the test's modules)";
    }
  }
  // Scripts a two-layer network (hidden width, outputs) for 8x8 images into DIR/NAME.
  std::string script(const std::string& name, int outputs) {
    const std::string path = dir_ / name;
    testing::write_file(dir_ / "make.py",
                        "import sys, torch\n"
                        "from torch import nn\n"
                        "class Net(nn.Module):\n"
                        "    def __init__(self, outputs: int):\n"
                        "        super().__init__()\n"
                        "        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU())\n"
                        "        self.head = nn.Linear(16, outputs)\n"
                        "    def forward(self, x: torch.Tensor) -> torch.Tensor:\n"
                        "        return self.head(self.body(x))\n"
                        "torch.manual_seed(0)\n"
                        "torch.jit.script(Net(int(sys.argv[2]))).save(sys.argv[1])\n");
    EXPECT_EQ(std::system(("/usr/bin/python3 " + (dir_ / "make.py") + " " + path + " " + std::to_string(outputs)).c_str()), 0);
    return path;
  }
  config::ModelConfig config_of(const std::string& path) {
    config::ModelConfig config;
    config.set_name("torchscript");
    config.mutable_torchscript()->set_path(path);
    return config;
  }
  TempDir dir_, data_;
};

TEST_F(TorchScriptTest, ParametersAreTheModulesOwnUnderTheirPythonNames) {
  auto model = ModelRegistry::instance().create(config_of(script("net.ts", 10)), {{1, 8, 8}, 10});
  std::vector<std::string> names;
  for (const auto& p : model->named_parameters()) names.push_back(p.key());
  EXPECT_EQ(names, (std::vector<std::string>{"body.1.weight", "body.1.bias", "head.weight", "head.bias"}));
  const torch::Tensor input = torch::randn({3, 1, 8, 8});
  const torch::Tensor before = model->forward(input);
  {
    torch::NoGradGuard no_grad;
    model->named_parameters()["head.bias"].add_(1.0);
  }
  // The script module computes with the very tensors the trainer updates.
  EXPECT_TRUE(torch::allclose(model->forward(input), before + 1.0));
  auto* script_model = dynamic_cast<TorchScriptModel*>(model.get());
  ASSERT_NE(script_model, nullptr);
  script_model->save(dir_ / "saved.ts");
  auto reloaded = load_torchscript_model(dir_ / "saved.ts");
  EXPECT_TRUE(torch::allclose(reloaded->forward(input), before + 1.0));
}

TEST_F(TorchScriptTest, TrainsAndResumesBitForBitLikeABuiltInModel) {
  testing::write_idx_dataset(data_.path(), 160, 40, 8, 8);
  const std::string module = script("net.ts", 10);
  const auto config = testing::small_config(data_.path(), {"model.name=torchscript", "model.torchscript.path=" + module,
                                                           "checkpoint.every_steps=10", "checkpoint.keep_last=0"});
  const auto full = testing::train(config, dir_ / "full");
  EXPECT_GT(full.eval.accuracy, 0.5);
  const auto losses = testing::metrics(dir_ / "full", "train");
  EXPECT_LT(losses.back()["loss"].get<double>(), losses.front()["loss"].get<double>());
  // Resumed from step 10: the same final weights as the run that went straight through.
  testing::train(config, dir_ / "resumed", (dir_ / "full/checkpoints/step-00000010").c_str());
  EXPECT_EQ(testing::read_file(dir_ / "resumed/checkpoints/step-00000030/model.pt"),
            testing::read_file(dir_ / "full/checkpoints/step-00000030/model.pt"));
}

TEST_F(TorchScriptTest, AModuleThatDoesNotFitTheTaskOrIsNoModuleIsNamed) {
  const std::string five = script("five.ts", 5);
  EXPECT_THAT(testing::error_of([&] { ModelRegistry::instance().create(config_of(five), {{1, 8, 8}, 10}); }),
              HasSubstr("model.torchscript.path: " + five + ": forward on a [2, 1, 8, 8] batch returned Float [2, 5]"));
  EXPECT_THAT(testing::error_of([&] { ModelRegistry::instance().create(config_of(five), {{3, 4, 4}, 5}); }),
              HasSubstr(": forward fails on a batch of the data's shape [2, 3, 4, 4] (Float): RuntimeError: mat1 and mat2 shapes cannot be multiplied (2x48 and 64x16)"));
  EXPECT_THAT(testing::error_of([&] { ModelRegistry::instance().create(config_of(dir_ / "none.ts"), {{1, 8, 8}, 10}); }),
              HasSubstr("none.ts: no such file"));
  testing::write_file(dir_ / "text.ts", "not a module");
  EXPECT_THAT(testing::error_of([&] { ModelRegistry::instance().create(config_of(dir_ / "text.ts"), {{1, 8, 8}, 10}); }),
              HasSubstr("text.ts: not a TorchScript module"));
}

}  // namespace
}  // namespace trainrt::models
