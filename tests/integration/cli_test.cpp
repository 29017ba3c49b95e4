// The `trainrt` program end to end, as a user runs it: a real process, real files, exit codes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include <cstdio>

#include "test_util.h"

namespace {

using ::testing::HasSubstr;
using trainrt::testing::TempDir;

struct ProcessResult {
  int exit_code;
  std::string output;  // stdout and stderr
};

// Runs the program with `env` (e.g. "RANK=0 WORLD_SIZE=2") prepended, capturing its output.
ProcessResult run_trainrt_env(const std::string& env, const std::string& args) {
  const std::string command = env + " " + std::string(TRAINRT_BIN) + " " + args + " 2>&1";
  std::FILE* pipe = popen(command.c_str(), "r");
  ProcessResult run{-1, ""};
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) run.output.append(buffer, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return run;
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
    (j["split"] == "train" ? train : eval).push_back(j);
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
