// The `trainrt` program end to end, as a user runs it: a real process, real files, exit codes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>

#include "test_paths.h"  // TRAINRT_BIN, TRAINRT_SOURCE_DIR, ... (tests/CMakeLists.txt)
#include "integration/process_util.h"
#include "test_util.h"

namespace {

using ::testing::HasSubstr;
using trainrt::testing::TempDir;

using ProcessResult = trainrt::testing::CommandResult;

// Runs the program with `env` (e.g. "RANK=0 WORLD_SIZE=2") prepended, capturing its output.
ProcessResult run_trainrt_env(const std::string& env, const std::string& args) {
  return trainrt::testing::run_command(env + " " + std::string(TRAINRT_BIN) + " " + args);
}

ProcessResult run_trainrt(const std::string& args) { return run_trainrt_env("", args); }

const char* kFashionMnist = "/usr/share/datasets/fashion-mnist";

TEST(Cli, TrainsFashionMnistSubsetLossFallsAndAccuracyBeatsChance) {
  if (access((std::string(kFashionMnist) + "/train-images-idx3-ubyte.gz").c_str(), R_OK) != 0) {
    GTEST_SKIP() << "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)";
  }
  TempDir dir;
  const ProcessResult run = run_trainrt(
      std::string("train ") + TRAINRT_SOURCE_DIR + "/configs/fashion_mnist_cnn.pbtxt" +
      " --run-dir " + dir.path() +
      " --set data.train_limit=9600 --set data.eval_limit=2000 --set train.max_steps=300"
      " --set data.batch_size=32 --set train.log_every_steps=25");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("test accuracy"));
  std::vector<nlohmann::json> train, eval;
  for (const auto& line : trainrt::testing::read_lines(dir / "metrics.jsonl")) {
    auto j = nlohmann::json::parse(line);
    if (j["split"] == "train") train.push_back(j);
    if (j["split"] == "eval") eval.push_back(j);
  }
  ASSERT_EQ(train.size(), 12u);
  EXPECT_LT(train.back()["loss"].get<double>(), 0.6 * train.front()["loss"].get<double>());
  ASSERT_FALSE(eval.empty());
  EXPECT_GT(eval.back()["accuracy"].get<double>(), 0.7);  // chance is 0.1
  EXPECT_EQ(eval.back()["step"], 300);
}

TEST(Cli, BadOverrideExitsTwoNamingTheField) {
  TempDir dir;
  trainrt::testing::write_file(dir / "c.pbtxt", "seed: 1\n");
  const ProcessResult run = run_trainrt("train " + (dir / "c.pbtxt") + " --set data.batch_size=0");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.output, HasSubstr("data.batch_size: 0 is out of range"));
  EXPECT_THAT(run.output, ::testing::Not(HasSubstr("Exception raised from")));  // no stack trace
}

TEST(Cli, ParseErrorExitsTwoWithFileLineAndColumn) {
  TempDir dir;
  trainrt::testing::write_file(dir / "c.pbtxt", "seed: 1\noptimizer { lr: fast }\n");
  const ProcessResult run = run_trainrt("train " + (dir / "c.pbtxt"));
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.output, HasSubstr(dir / "c.pbtxt:2:"));
  EXPECT_FALSE(access((dir / "runs").c_str(), F_OK) == 0);  // nothing started
}

TEST(Cli, MissingDataFileExitsOneNamingIt) {
  TempDir dir;
  trainrt::testing::write_file(dir / "c.pbtxt", "data { dir: \"" + dir.path() + "\" }\n");
  const ProcessResult run = run_trainrt("train " + (dir / "c.pbtxt") + " --run-dir " + (dir / "run"));
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.output, HasSubstr(dir / "train-images-idx3-ubyte"));
}

TEST(Cli, MalformedLauncherEnvironmentIsNamed) {
  TempDir dir;
  trainrt::testing::write_file(dir / "c.pbtxt", "data { dir: \"" + dir.path() + "\" }\n");
  const ProcessResult run =
      run_trainrt_env("RANK=0 WORLD_SIZE=two MASTER_ADDR=127.0.0.1", "train " + (dir / "c.pbtxt"));
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.output, HasSubstr("WORLD_SIZE='two' is not a whole number"));
}

TEST(Cli, HelpAndMissingConfig) {
  const ProcessResult help = run_trainrt("train --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.output, HasSubstr("--set"));
  EXPECT_THAT(help.output, HasSubstr("--run-dir"));
  const ProcessResult missing = run_trainrt("train /nonexistent.pbtxt");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.output, HasSubstr("/nonexistent.pbtxt"));
}

}  // namespace

// Checkpoints through the program: export for Python, inspect, and what a full disk does.
class CliCheckpoints : public ::testing::Test {
 protected:
  void SetUp() override {
    trainrt::testing::write_idx_dataset(data_.path(), 320, 60, 8, 8);
    trainrt::testing::write_file(data_ / "job.pbtxt",
                                 "seed: 2\n"
                                 "model { name: 'mlp' mlp { hidden: [256, 256] } }\n"
                                 "data { dir: '" + data_.path() + "' batch_size: 16 }\n"
                                 "train { epochs: 1 log_every_steps: 5 }\n"
                                 "runtime { threads: 1 }\n"
                                 "checkpoint { every_steps: 5 }\n");
  }
  ProcessResult train(const std::string& extra = "", const std::string& prefix = "") {
    return run_trainrt_env(prefix, "train " + (data_ / "job.pbtxt") + " --run-dir " + (out_ / "run") + " " + extra);
  }
  TempDir data_, out_;
};

// Found by trying (2026-11-30): a/job.pbtxt and b/job.pbtxt shared the default run directory
// runs/job, and the second (another learning rate) silently resumed the first's checkpoint.
TEST_F(CliCheckpoints, TheDefaultRunDirectoryIsTheConfigsNameAndAnotherConfigsCheckpointIsRefused) {
  const std::string job = trainrt::testing::read_file(data_ / "job.pbtxt");
  std::filesystem::create_directories(out_ / "a");
  std::filesystem::create_directories(out_ / "b");
  trainrt::testing::write_file(out_ / "a/job.pbtxt", job + "name: 'first'\n");
  trainrt::testing::write_file(out_ / "b/job.pbtxt", job + "name: 'second'\noptimizer { lr: 0.1 }\n");
  auto train_in_out = [&](const std::string& config) {
    return trainrt::testing::run_command("cd " + out_.path() + " && " + TRAINRT_BIN + " train " + config);
  };
  const ProcessResult first = train_in_out("a/job.pbtxt");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_THAT(first.output, HasSubstr("run dir runs/first"));
  const ProcessResult second = train_in_out("b/job.pbtxt");
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_THAT(second.output, HasSubstr("run dir runs/second"));
  EXPECT_THAT(second.output, ::testing::Not(HasSubstr("resumed")));
  // Two configs with one name share a run directory: the second is refused, naming the change.
  trainrt::testing::write_file(out_ / "b/job.pbtxt", job + "name: 'first'\noptimizer { lr: 0.1 }\n");
  const ProcessResult refused = train_in_out("b/job.pbtxt");
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("optimizer.lr: 0.05 in the checkpoint, 0.1 in this run"));
  const ProcessResult accepted = train_in_out("b/job.pbtxt --accept-config-changes --set train.epochs=2");
  EXPECT_EQ(accepted.exit_code, 0) << accepted.output;
  EXPECT_THAT(accepted.output, HasSubstr("config changed since the checkpoint: optimizer.lr 0.05 -> 0.1"));
}

// Found in review: newer checkpoints were set aside before the rollback had loaded (a failing one
// lost them), and a worker restarted by its launcher with the same --resume PATH rolled back again.
TEST_F(CliCheckpoints, ARollbackSetsAsideOnlyOnceLoadedAndARestartedWorkerContinuesItsNewest) {
  ASSERT_EQ(train().exit_code, 0);  // checkpoints 10, 15, 20
  const std::string root = out_ / "run/checkpoints";
  const ProcessResult failed = train("--resume " + root + "/step-00000010 --set optimizer.name=adamw");
  EXPECT_NE(failed.exit_code, 0) << failed.output;
  EXPECT_TRUE(std::filesystem::exists(root + "/step-00000020/model.pt"));
  EXPECT_TRUE(std::filesystem::exists(root + "/step-00000015/model.pt"));
  // A restart (TORCHELASTIC_RESTART_COUNT > 0) continues the job's own newest checkpoint.
  const ProcessResult restarted = train("--resume " + root + "/step-00000010 --set train.epochs=2",
                                        "RANK=0 WORLD_SIZE=1 LOCAL_RANK=0 LOCAL_WORLD_SIZE=1 TORCHELASTIC_RESTART_COUNT=1");
  EXPECT_EQ(restarted.exit_code, 0) << restarted.output;
  EXPECT_THAT(restarted.output, HasSubstr("resumed from " + root + "/step-00000020"));
  EXPECT_THAT(restarted.output, ::testing::Not(HasSubstr("set aside")));
}

TEST_F(CliCheckpoints, ExportedBundleWeightsOpenInPythonsTorchLoad) {
  ASSERT_EQ(train().exit_code, 0);
  const ProcessResult exported = run_trainrt("export --checkpoint " + (out_ / "run") + " --out " + (out_ / "bundle"));
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  EXPECT_THAT(exported.output, HasSubstr("exported " + (out_ / "run/checkpoints/step-00000020") +
                                         " (step 20, model 'mlp', input [1, 8, 8], 10 outputs) -> " +
                                         (out_ / "bundle") + ": config.pbtxt, weights.pt"));
  const auto manifest = nlohmann::json::parse(trainrt::testing::read_file(out_ / "bundle/bundle.json"));
  EXPECT_EQ(manifest["format"], "trainrt-bundle");
  EXPECT_EQ(manifest["version"], 1);
  EXPECT_EQ(manifest["step"], 20);
  EXPECT_FALSE(std::filesystem::exists(out_ / "bundle.tmp"));
  // An existing destination is never overwritten.
  const ProcessResult again = run_trainrt("export --checkpoint " + (out_ / "run") + " --out " + (out_ / "bundle"));
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.output, HasSubstr((out_ / "bundle") + ": exists already"));
  if (std::system("/usr/bin/python3 -c 'import torch' 2>/dev/null") != 0) {
    GTEST_SKIP() << "python3-torch is not installed";
  }
  const std::string script = out_ / "load.py";
  trainrt::testing::write_file(script,
                               "import sys, torch\n"
                               "d = torch.load(sys.argv[1])\n"
                               "print(sorted((k, tuple(v.shape), str(v.dtype)) for k, v in d.items()))\n");
  std::FILE* pipe = popen(("/usr/bin/python3 " + script + " " + (out_ / "bundle/weights.pt")).c_str(), "r");
  char buffer[4096];
  const std::string printed(buffer, fread(buffer, 1, sizeof(buffer), pipe));
  ASSERT_EQ(pclose(pipe), 0) << printed;
  EXPECT_EQ(printed,
            "[('classifier.bias', (10,), 'torch.float32'), ('classifier.weight', (10, 256), 'torch.float32'), "
            "('fc1.bias', (256,), 'torch.float32'), ('fc1.weight', (256, 64), 'torch.float32'), "
            "('fc2.bias', (256,), 'torch.float32'), ('fc2.weight', (256, 256), 'torch.float32')]\n");
}

TEST_F(CliCheckpoints, InspectListsCheckpointsAndNamesABrokenOne) {
  ASSERT_EQ(train().exit_code, 0);
  const std::string newest = out_ / "run/checkpoints/step-00000020";
  std::string state = trainrt::testing::read_file(newest + "/optimizer.pt");
  trainrt::testing::write_file(newest + "/optimizer.pt", state.substr(0, state.size() - 7));
  const ProcessResult inspect = run_trainrt("ckpt inspect " + (out_ / "run"));
  ASSERT_EQ(inspect.exit_code, 0) << inspect.output;
  EXPECT_THAT(inspect.output, HasSubstr(newest + ": BROKEN: optimizer.pt: "));
  EXPECT_THAT(inspect.output, HasSubstr("(truncated?)"));
  EXPECT_THAT(inspect.output, HasSubstr("checkpoint " + (out_ / "run/checkpoints/step-00000015") + " (whole)"));
  EXPECT_THAT(inspect.output, HasSubstr("loader_sample: 240"));  // 15 steps x 16 samples
  const ProcessResult broken = run_trainrt("export --checkpoint " + newest + " --out " + (out_ / "bundle"));
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_THAT(broken.output, HasSubstr("checkpoint '" + newest + "' is broken: optimizer.pt: "));
  EXPECT_FALSE(std::filesystem::exists(out_ / "bundle"));
}

TEST_F(CliCheckpoints, AFullDiskKeepsThePreviousCheckpointAndSaysWhy) {
  ASSERT_EQ(train().exit_code, 0);  // one epoch: checkpoints up to step 20
  // The second epoch runs where no file may exceed 300 kB (the model's state is about 340 kB):
  // every checkpoint write fails like on a full disk.
  const std::string limited = "prlimit --fsize=300000";
  const ProcessResult carry_on = train("--set train.epochs=2", limited);
  EXPECT_EQ(carry_on.exit_code, 1) << carry_on.output;
  EXPECT_THAT(carry_on.output, HasSubstr("warning: checkpoint at step 25 not written: cannot write checkpoint file"));
  EXPECT_THAT(carry_on.output, HasSubstr("File too large; the previous checkpoint is kept, the next one will retry"));
  EXPECT_THAT(carry_on.output, HasSubstr("eval  epoch 2 step 40:"));  // training went on to the end
  EXPECT_THAT(carry_on.output, HasSubstr("error: checkpoint at step 40 not written"));
  EXPECT_THAT(carry_on.output, HasSubstr("the newest whole checkpoint is " + (out_ / "run/checkpoints/step-00000020")));
  // ... and the checkpoint from before is whole and still the one a resume finds.
  const ProcessResult inspect = run_trainrt("ckpt inspect " + (out_ / "run"));
  EXPECT_THAT(inspect.output, HasSubstr("checkpoint " + (out_ / "run/checkpoints/step-00000020") + " (whole)"));
  for (const auto& entry : std::filesystem::directory_iterator(out_ / "run/checkpoints")) {
    EXPECT_NE(entry.path().filename().string().rfind(".tmp", 0), 0u) << "staging left behind";
  }
  // checkpoint.on_error: stop ends the run at the first failure.
  const ProcessResult stop = train("--set train.epochs=2 --set checkpoint.on_error=stop", limited);
  EXPECT_EQ(stop.exit_code, 1);
  EXPECT_THAT(stop.output, HasSubstr("(checkpoint.on_error: stop)"));
  EXPECT_THAT(stop.output, ::testing::Not(HasSubstr("done:")));
}

TEST_F(CliCheckpoints, RunsSummaryPrintsTheFinalMetricsAndTheBreakdown) {
  ASSERT_EQ(train().exit_code, 0);
  const ProcessResult summary = run_trainrt("runs summary " + (out_ / "run"));
  ASSERT_EQ(summary.exit_code, 0) << summary.output;
  EXPECT_THAT(summary.output, HasSubstr("run " + (out_ / "run") + ": 20 steps, epoch 1"));
  EXPECT_THAT(summary.output, HasSubstr("eval at step 20: loss "));
  EXPECT_THAT(summary.output, ::testing::ContainsRegex("step [0-9.]+ ms \\(mean\\): data wait [0-9.]+, compute "
                                                       "[0-9.]+, exposed communication [0-9.]+, optimizer"));
  EXPECT_THAT(summary.output, HasSubstr("checkpoints: 4 written"));  // steps 5, 10, 15, 20
  // The same metrics as curves, for people without TensorBoard.
  if (std::system("/usr/bin/python3 -c 'import matplotlib' 2>/dev/null") == 0) {
    const std::string command = "/usr/bin/python3 " + std::string(TRAINRT_SOURCE_DIR) + "/tools/plot_metrics.py " +
                                (out_ / "run") + " --out " + (out_ / "m.png") + " > /dev/null";
    ASSERT_EQ(std::system(command.c_str()), 0);
    EXPECT_EQ(trainrt::testing::read_file(out_ / "m.png").substr(1, 3), "PNG");
  }
  const ProcessResult missing = run_trainrt("runs summary " + (out_ / "nothing"));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.output, HasSubstr("cannot read '" + (out_ / "nothing/metrics.jsonl") + "'"));
}

// tools/text_to_tokens.py, `trainrt train` of a language model, and `trainrt generate`.
TEST(CliLanguageModel, TokenizesTrainsAndGeneratesTheSameTextForTheSameSeed) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 400; ++i) text += "the cat sat on the mat. the dog ran to the log. ";
  trainrt::testing::write_file(dir / "corpus.txt", text);
  const std::string tokenize = "/usr/bin/python3 " + std::string(TRAINRT_SOURCE_DIR) +
                               "/tools/text_to_tokens.py " + (dir / "corpus.txt") + " --out " + (dir / "tokens") +
                               " > " + (dir / "tokenize.txt") + " 2>&1";
  ASSERT_EQ(std::system(tokenize.c_str()), 0) << trainrt::testing::read_file(dir / "tokenize.txt");
  EXPECT_THAT(trainrt::testing::read_file(dir / "tokenize.txt"), ::testing::HasSubstr("unigram baseline"));

  const std::string sets =
      " --set task=language_model --set model.name=gpt --set model.gpt.layers=1 --set model.gpt.width=32"
      " --set model.gpt.heads=2 --set model.gpt.context=32 --set data.format=tokens --set data.dir=" +
      (dir / "tokens") + " --set data.batch_size=8 --set optimizer.name=adamw --set optimizer.lr=0.01"
      " --set train.max_steps=40 --set runtime.threads=1 --set runtime.device=cpu";
  const auto trained = run_trainrt("train " + std::string(TRAINRT_SOURCE_DIR) + "/configs/fortunes_gpt.pbtxt" +
                                   sets + " --set schedule.warmup_steps=5 --run-dir " + (dir / "run"));
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  EXPECT_THAT(trained.output, ::testing::HasSubstr("perplexity"));

  auto generate = [&](const std::string& args) {
    return run_trainrt("generate --checkpoint " + (dir / "run") + " --prompt 'the ' --tokens 60 " + args);
  };
  const auto first = generate("--seed 1");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_THAT(first.output, ::testing::StartsWith("the "));
  EXPECT_EQ(first.output.size(), 4u + 60u + 1u);  // prompt, 60 bytes, newline
  EXPECT_EQ(generate("--seed 1").output, first.output);
  EXPECT_NE(generate("--seed 2").output, first.output);
  EXPECT_EQ(generate("--temperature 0 --seed 1").output, generate("--temperature 0 --seed 9").output);

  // Not a language model's checkpoint.
  std::filesystem::create_directories(dir / "images");
  trainrt::testing::write_idx_dataset(dir / "images", 64, 20, 8, 8);  // 4 steps of batch 16
  const auto image_run = run_trainrt("train " + std::string(TRAINRT_SOURCE_DIR) +
                                     "/configs/fashion_mnist_cnn.pbtxt --set data.dir=" + (dir / "images") +
                                     " --set model.name=mlp --set data.batch_size=16 --set train.max_steps=2 --set runtime.device=cpu"
                                     " --run-dir " + (dir / "images-run"));
  ASSERT_EQ(image_run.exit_code, 0) << image_run.output;
  const auto refused = run_trainrt("generate --checkpoint " + (dir / "images-run") + " --prompt x");
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.output, ::testing::HasSubstr("task 'image_classification': generate needs a language "
                                                   "model's checkpoint"));
}
