// trainrt used from the outside, as an application team uses it: the build is installed into a
// temporary prefix, and each example (examples/) is configured, built and run against that
// install by CMake (and one by pkg-config), as a separate project would. Also the plugin and
// TorchScript paths through the installed program, and their errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <regex>

#include "test_paths.h"  // TRAINRT_BIN, TRAINRT_SOURCE_DIR, ... (tests/CMakeLists.txt)
#include "integration/process_util.h"
#include "test_util.h"
#include "trainrt/core/version.h"

namespace {

using ::testing::HasSubstr;
using trainrt::testing::CommandResult;
using trainrt::testing::TempDir;
using trainrt::testing::run_command;

const std::string kSource = TRAINRT_SOURCE_DIR;
const std::string kBuild = TRAINRT_BUILD_DIR;
const std::string kFashionMnist = "/usr/share/datasets/fashion-mnist";

bool have_python_torch() { return std::system("/usr/bin/python3 -c 'import torch' 2>/dev/null") == 0; }

// The number after `label` in `text` (e.g. "accuracy 0.8123"); NaN if absent.
double number_after(const std::string& text, const std::string& label) {
  std::smatch match;
  if (!std::regex_search(text, match, std::regex(label + " ([0-9.eE+-]+)"))) return std::nan("");
  return std::stod(match[1]);
}

// The accuracy of the last evaluation in RUN's metrics.jsonl.
double final_eval_accuracy(const std::string& run) {
  double accuracy = std::nan("");
  for (const auto& line : trainrt::testing::read_lines(run + "/metrics.jsonl")) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("split", "") == "eval" && j.contains("accuracy")) accuracy = j["accuracy"];
  }
  return accuracy;
}

class Embedding : public ::testing::Test {
 protected:
  // Once per test process (ctest runs each test in its own): install into a temporary prefix.
  static void SetUpTestSuite() {
    if (access((kFashionMnist + "/t10k-images-idx3-ubyte.gz").c_str(), R_OK) != 0) return;
    root_ = new TempDir();
    const CommandResult install = run_command("cmake --install " + kBuild + " --prefix " + prefix());
    ASSERT_EQ(install.exit_code, 0) << install.output;
  }
  static void TearDownTestSuite() {
    delete root_;
    root_ = nullptr;
  }
  void SetUp() override {
    if (!root_) GTEST_SKIP() << "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)";
  }

  static std::string prefix() { return *root_ / "prefix"; }
  // A small CNN trained on Fashion-MNIST by the installed program and exported (made on first use).
  static std::string cnn_bundle() {
    const std::string bundle = *root_ / "cnn_bundle";
    if (std::filesystem::exists(bundle)) return bundle;
    const CommandResult train = trainrt(
        "train " + kSource + "/configs/fashion_mnist_cnn.pbtxt --run-dir " + (*root_ / "cnn") +
        " --set train.epochs=1 --set data.train_limit=3000 --set model.cnn.channels=8,16 --set model.cnn.hidden=32"
        " --set runtime.device=cpu --set observe.tensorboard=false");
    EXPECT_EQ(train.exit_code, 0) << train.output;
    const CommandResult exported = trainrt("export --checkpoint " + (*root_ / "cnn") + " --out " + bundle);
    EXPECT_EQ(exported.exit_code, 0) << exported.output;
    return bundle;
  }
  static CommandResult trainrt(const std::string& args) { return run_command(prefix() + "/bin/trainrt " + args); }

  // Configures and builds examples/NAME against the installed package; returns its build folder.
  static std::string build_example(const std::string& name) {
    const std::string build = *root_ / ("build-" + name);
    const CommandResult configure = run_command(
        "cmake -G Ninja -S " + kSource + "/examples/" + name + " -B " + build +
        " -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=" + prefix() + " -DTorch_DIR=" + TRAINRT_TORCH_DIR +
        " $(command -v ccache >/dev/null && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)");
    EXPECT_EQ(configure.exit_code, 0) << configure.output;
    const CommandResult compile = run_command("cmake --build " + build);
    EXPECT_EQ(compile.exit_code, 0) << compile.output;
    return build;
  }

  static TempDir* root_;
};

TempDir* Embedding::root_ = nullptr;

TEST_F(Embedding, InstallHasTheLibraryHeadersProgramCMakePackageAndPkgConfig) {
  for (const std::string file : {"include/trainrt/trainrt.h", "include/trainrt/plugin.h",
                                 "include/trainrt/config/trainrt.pb.h", "include/trainrt/infer/predictor.h",
                                 "lib/libtrainrt.so", "lib/cmake/trainrt/trainrtConfig.cmake",
                                 "lib/cmake/trainrt/trainrtTargets.cmake", "lib/pkgconfig/trainrt.pc", "bin/trainrt"}) {
    EXPECT_TRUE(std::filesystem::exists(prefix() + "/" + file)) << file;
  }
  EXPECT_FALSE(std::filesystem::exists(prefix() + "/include/trainrt/pch.h"));
  EXPECT_THAT(trainrt("--version").output, HasSubstr(std::string("trainrt ") + trainrt::kVersion));
  // pkg-config alone builds an application: the inference example, compiled by hand.
  const std::string app = *root_ / "inference_app_pkgconfig";
  const CommandResult compile = run_command(
      "PKG_CONFIG_PATH=" + prefix() + "/lib/pkgconfig $(command -v ccache) g++ -O1 " + kSource +
      "/examples/inference_app/main.cpp -o " + app + " $(PKG_CONFIG_PATH=" + prefix() +
      "/lib/pkgconfig pkg-config --cflags --libs trainrt)");
  ASSERT_EQ(compile.exit_code, 0) << compile.output;
  const CommandResult run = run_command(app + " " + cnn_bundle() + " " + kFashionMnist + " 2");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("of 10000)"));
}

TEST_F(Embedding, InferenceAppOnFourThreadsMatchesTheTrainersOwnAccuracy) {
  const std::string build = build_example("inference_app");
  const CommandResult run = run_command(build + "/inference_app " + cnn_bundle() + " " + kFashionMnist + " 4");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("model 'cnn'"));
  const double trainer = final_eval_accuracy(*root_ / "cnn");
  ASSERT_GT(trainer, 0.5);
  // The same weights, the same normalisation code: the same predictions, image for image.
  EXPECT_NEAR(number_after(run.output, "accuracy"), trainer, 1e-9) << run.output;
  // Bad input: a bundle whose weights file is damaged is refused, naming it.
  const std::string damaged = *root_ / "damaged_bundle";
  std::filesystem::copy(cnn_bundle(), damaged);
  std::string weights = trainrt::testing::read_file(damaged + "/weights.pt");
  weights[weights.size() / 2] ^= 1;
  trainrt::testing::write_file(damaged + "/weights.pt", weights);
  const CommandResult refused = run_command(build + "/inference_app " + damaged + " " + kFashionMnist);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.output, HasSubstr(damaged + "/weights.pt: "));
  EXPECT_THAT(refused.output, HasSubstr("(damaged or replaced)"));
}

TEST_F(Embedding, FinetuneAppStartsFromTheBundleAndItsCallbackStopsTraining) {
  const std::string build = build_example("finetune_in_app");
  const std::string run_dir = *root_ / "finetune";
  // The bundle's model already beats 0.6: the first evaluation (step 20) stops training.
  const CommandResult run = run_command(build + "/finetune_in_app " + run_dir + " 0.6 " + cnn_bundle() + " " +
                                        kFashionMnist);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("app: callbacks saw 20 steps; training stopped early at step 20"));
  EXPECT_GT(number_after(run.output, "app: first evaluation accuracy"), 0.6);
  EXPECT_THAT(run.output, HasSubstr("app: checkpoint of step 20 at " + run_dir + "/checkpoints/step-00000020"));
  EXPECT_THAT(run.output, HasSubstr("stopped at step 20 as the application asked"));
  int64_t last_step = 0;
  for (const auto& line : trainrt::testing::read_lines(run_dir + "/metrics.jsonl")) {
    const auto j = nlohmann::json::parse(line);
    if (j["split"] == "train") last_step = j["step"];
  }
  EXPECT_EQ(last_step, 20);
}

TEST_F(Embedding, PluginModelAndTransformTrainThroughTheProgramAndServeFromTheBundle) {
  const std::string build = build_example("plugin_model");
  const std::string plugin = build + "/libplugin_model.so";
  const std::string run_dir = *root_ / "plugin_run";
  const CommandResult train = trainrt("train " + kSource + "/examples/plugin_model/plugin_model.pbtxt --plugin " +
                                      plugin + " --run-dir " + run_dir +
                                      " --set train.epochs=1 --set data.train_limit=3000 --set data.eval_limit=0 --set observe.tensorboard=false");
  ASSERT_EQ(train.exit_code, 0) << train.output;
  EXPECT_GT(final_eval_accuracy(run_dir), 0.5);
  EXPECT_THAT(trainrt::testing::read_file(run_dir + "/config.pbtxt"), HasSubstr("plugins: \"" + plugin + "\""));
  // The bundle remembers the plugin: the inference app (which knows nothing of it) serves the model,
  // once its user consents to loading the plugin the bundle names (Note [plugins need the
  // application's consent] in core/plugin.h).
  const std::string bundle = *root_ / "plugin_bundle";
  ASSERT_EQ(trainrt("export --checkpoint " + run_dir + " --out " + bundle).exit_code, 0);
  const std::string app = build_example("inference_app") + "/inference_app ";
  const CommandResult refused = run_command(app + bundle + " " + kFashionMnist + " 2");
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.output, HasSubstr(bundle + "/config.pbtxt: names the plugin " + plugin));
  const CommandResult served = run_command(app + "--load-plugins " + bundle + " " + kFashionMnist + " 2");
  ASSERT_EQ(served.exit_code, 0) << served.output;
  EXPECT_THAT(served.output, HasSubstr("model 'gated_mlp'"));
  EXPECT_NEAR(number_after(served.output, "accuracy"), final_eval_accuracy(run_dir), 1e-9);
  // Without the plugin its model is unknown: open names are checked, all at once, before any data
  // is read (Note [open names] in tasks/tasks.h).
  const CommandResult unknown = trainrt("train " + kSource + "/examples/plugin_model/plugin_model.pbtxt --run-dir " +
                                        (*root_ / "no_plugin"));
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.output, HasSubstr("model.name: unknown model 'gated_mlp' (known: cnn, gpt, mlp, resnet, torchscript)"));
}

TEST_F(Embedding, PluginsAreLoadedOnlyFromExplicitPathsAndTheirFailuresAreNamed) {
  const std::string job = *root_ / "stripes.pbtxt";
  trainrt::testing::write_file(job, "model { name: 'test_linear' }\n"
                                    "data { format: 'test_stripes' batch_size: 16 }\n"
                                    "optimizer { lr: 0.5 }\n"
                                    "train { epochs: 3 log_every_steps: 16 }\n"
                                    "runtime { threads: 1 device: 'cpu' }\n");
  const std::string plugin = std::string(TRAINRT_TEST_PLUGIN_DIR) + "/libtrainrt_test_plugin.so";
  // The plugin's own data format and model; listed twice, loaded once.
  const CommandResult trained = trainrt("train " + job + " --plugin " + plugin + " --plugin " + plugin +
                                        " --run-dir " + (*root_ / "stripes"));
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  EXPECT_GT(final_eval_accuracy(*root_ / "stripes"), 0.99);  // the stripe's row is the class

  const CommandResult bare = trainrt("train " + job + " --plugin libtrainrt_test_plugin.so");
  EXPECT_EQ(bare.exit_code, 2);
  EXPECT_THAT(bare.output, HasSubstr("plugin 'libtrainrt_test_plugin.so': give its path "
                                     "('./libtrainrt_test_plugin.so' or an absolute one); plugins are never searched for"));
  const CommandResult missing = trainrt("train " + job + " --plugin /nonexistent/libx.so");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.output, HasSubstr("plugin /nonexistent/libx.so: no such file"));
  const std::string not_a_library = *root_ / "not_a_library.so";
  trainrt::testing::write_file(not_a_library, "text");
  const CommandResult unloadable = trainrt("train " + job + " --plugin " + not_a_library);
  EXPECT_EQ(unloadable.exit_code, 2);
  EXPECT_THAT(unloadable.output, HasSubstr("plugin " + not_a_library + ": cannot load it: "));
  const CommandResult no_entry = trainrt("train " + job + " --plugin " + prefix() + "/lib/libtrainrt.so");
  EXPECT_EQ(no_entry.exit_code, 2);
  EXPECT_THAT(no_entry.output, HasSubstr("has no trainrt_plugin_register() function"));
  const std::string conflicting = std::string(TRAINRT_TEST_PLUGIN_DIR) + "/libtrainrt_conflicting_plugin.so";
  const CommandResult failed = trainrt("train " + job + " --plugin " + conflicting);
  EXPECT_EQ(failed.exit_code, 2);
  EXPECT_THAT(failed.output, HasSubstr("plugin " + conflicting +
                                       ": its registration failed: a model named 'mlp' is already registered"));
}

TEST_F(Embedding, TorchScriptModelTrainsAloneAndDataParallelAndItsBundleLoadsInPython) {
  if (!have_python_torch()) GTEST_SKIP() << "python3-torch is not installed";
  const std::string module = *root_ / "model.ts";
  const CommandResult scripted = run_command("/usr/bin/python3 " + kSource + "/examples/torchscript_model/make_model.py " + module);
  ASSERT_EQ(scripted.exit_code, 0) << scripted.output;
  const std::string job = kSource + "/examples/torchscript_model/torchscript_model.pbtxt";
  const std::string settings = " --set model.torchscript.path=" + module +
                               " --set data.train_limit=1280 --set data.eval_limit=0 --set observe.tensorboard=false"
                               " --set runtime.threads=1";
  const std::string single = *root_ / "ts_single";
  const CommandResult train = trainrt("train " + job + " --run-dir " + single + settings);
  ASSERT_EQ(train.exit_code, 0) << train.output;
  EXPECT_GT(final_eval_accuracy(single), 0.5);
  // Two ranks over Gloo: the module's parameters go through the same reducer.
  const std::string parallel = *root_ / "ts_parallel";
  const CommandResult launched = run_command(prefix() + "/bin/trainrt launch --standalone --nproc-per-node 2 -- " +
                                             prefix() + "/bin/trainrt train " + job + " --run-dir " + parallel +
                                             settings + " --set data.batch_size=32");
  ASSERT_EQ(launched.exit_code, 0) << launched.output;
  EXPECT_GT(final_eval_accuracy(parallel), 0.5);

  const std::string bundle = *root_ / "ts_bundle";
  const CommandResult exported = trainrt("export --checkpoint " + single + " --out " + bundle);
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  EXPECT_THAT(exported.output, HasSubstr("config.pbtxt, weights.pt, model.ts"));
  // Python opens both: the trained module carries exactly the exported weights.
  const std::string check = *root_ / "check.py";
  trainrt::testing::write_file(check,
                               "import sys, torch\n"
                               "m = torch.jit.load(sys.argv[1] + '/model.ts')\n"
                               "w = torch.load(sys.argv[1] + '/weights.pt')\n"
                               "s = m.state_dict()\n"
                               "assert sorted(s) == sorted(w), (sorted(s), sorted(w))\n"
                               "assert all(torch.equal(s[k], w[k]) for k in w)\n"
                               "print('logits', tuple(m.eval()(torch.zeros(3, 1, 28, 28)).shape))\n");
  const CommandResult python = run_command("/usr/bin/python3 " + check + " " + bundle);
  ASSERT_EQ(python.exit_code, 0) << python.output;
  EXPECT_THAT(python.output, HasSubstr("logits (3, 10)"));
  // The inference app serves it through the frozen, oneDNN-optimized module: batch norm folded
  // into the convolutions rounds differently, so a rare borderline image may flip.
  const CommandResult served = run_command(build_example("inference_app") + "/inference_app " + bundle + " " +
                                           kFashionMnist + " 2");
  ASSERT_EQ(served.exit_code, 0) << served.output;
  EXPECT_NEAR(number_after(served.output, "accuracy"), final_eval_accuracy(single), 0.002);

  // A module whose output does not fit the task is refused before training, naming the file.
  const std::string five = *root_ / "five.ts";
  ASSERT_EQ(run_command("/usr/bin/python3 " + kSource + "/examples/torchscript_model/make_model.py " + five + " 5").exit_code, 0);
  const CommandResult misfit = trainrt("train " + job + " --run-dir " + (*root_ / "ts_misfit") +
                                       " --set model.torchscript.path=" + five);
  EXPECT_EQ(misfit.exit_code, 2);
  EXPECT_THAT(misfit.output, HasSubstr("model.torchscript.path: " + five +
                                       ": forward on a [2, 1, 28, 28] batch returned Float [2, 5]; the task needs "
                                       "floating-point logits [2, ..., 10]"));
  const CommandResult not_a_module = trainrt("train " + job + " --run-dir " + (*root_ / "ts_bad") +
                                             " --set model.torchscript.path=" + job);
  EXPECT_EQ(not_a_module.exit_code, 2);
  EXPECT_THAT(not_a_module.output, HasSubstr("model.torchscript.path: " + job + ": not a TorchScript module"));
}

}  // namespace
