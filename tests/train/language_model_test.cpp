// The language-model task through the Trainer: a small GPT learns a token stream (its loss falls
// and its validation perplexity ends below the unigram baseline), evaluation counts tokens, and
// configs that mix the task with the wrong data or model are refused.
#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "trainrt/tasks/language_model.h"
#include "trainrt/tasks/tasks.h"
#include "test_util.h"
#include "train/train_test_util.h"
#include "trainrt/config/load.h"
#include "trainrt/train/trainer.h"

namespace trainrt::train {
namespace {

using ::testing::HasSubstr;
using trainrt::testing::TempDir;
using trainrt::testing::metrics;

// Little-endian uint16 tokens: sentences of a small grammar over byte tokens 'a'..'h' and ' '.
// Every token but a sentence's first is predictable from the one before it.
void write_token_stream(const std::string& path, int sentences, uint32_t seed) {
  std::string bytes;
  uint32_t state = seed;
  for (int i = 0; i < sentences; ++i) {
    state = state * 1664525u + 1013904223u;
    const char first = static_cast<char>('a' + (state >> 24) % 4);
    for (const char c : std::string{first} + static_cast<char>(first + 4) + static_cast<char>(first + 1) + " ") {
      bytes.push_back(c);
      bytes.push_back(0);
    }
  }
  trainrt::testing::write_file(path, bytes);
}

config::TrainConfig language_config(const std::string& dir, std::vector<std::string> extra = {}) {
  std::vector<std::string> overrides{
      "task=language_model", "model.name=gpt", "model.gpt.layers=1", "model.gpt.width=32",
      "model.gpt.heads=2", "model.gpt.context=16", "data.format=tokens", "data.dir=" + dir,
      "data.batch_size=8", "optimizer.name=adamw", "optimizer.lr=0.01", "train.epochs=4",
      "train.log_every_steps=5", "runtime.threads=1", "runtime.device=cpu",
      "optimizer.decay_1d_parameters=false", "optimizer.weight_decay=0.1"};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  return config::resolve_config(config::parse_config_text("seed: 3", "test"), overrides, "test");
}

class LanguageModel : public ::testing::Test {
 protected:
  void SetUp() override {
    write_token_stream(data_ / "train.bin", 1200, 1);
    write_token_stream(data_ / "val.bin", 200, 2);
  }
  TempDir data_, runs_;
};

TEST_F(LanguageModel, LossFallsBelowTheUnigramBaselineAndEvaluationCountsTokens) {
  const auto config = language_config(data_.path());
  const TrainResult result = trainrt::testing::train(config, runs_ / "lm");
  const auto lines = metrics(runs_ / "lm", "train");
  ASSERT_GE(lines.size(), 10u);
  EXPECT_LT(lines.back()["loss"].get<double>(), 0.5 * lines.front()["loss"].get<double>());
  EXPECT_GT(lines.back()["tokens_per_sec"].get<double>(), 0);
  // 9 symbols: the unigram baseline is about ln(9) = 2.2 nats. The grammar leaves only a sentence's
  // first token (every 4th, 4 choices) uncertain: a model that learned it reaches ln(4) / 4 = 0.35.
  EXPECT_LT(result.eval.loss, 0.7);
  EXPECT_NEAR(result.eval.perplexity, std::exp(result.eval.loss), 1e-9);
  EXPECT_GT(result.eval.accuracy, 0.6);
  EXPECT_LE(result.eval.accuracy, 1.0);  // a share of tokens, not of windows
  const auto evals = metrics(runs_ / "lm", "eval");
  ASSERT_FALSE(evals.empty());
  EXPECT_TRUE(evals.back().contains("perplexity"));
}

TEST_F(LanguageModel, ConfigsMixingTasksDataAndModelsAreRefused) {
  auto error = [&](std::vector<std::string> overrides) {
    return trainrt::testing::error_of([&] { tasks::make_task(language_config(data_.path(), overrides)); });
  };
  EXPECT_THAT(error({"data.format=idx"}), HasSubstr("data.format: 'idx' does not fit task 'language_model'"));
  EXPECT_THAT(error({"model.name=cnn"}), HasSubstr("model.name: 'cnn' cannot model language"));
  EXPECT_THAT(error({"model.gpt.heads=5"}), HasSubstr("model.gpt.width: 32 does not divide among 5 heads"));
  EXPECT_THAT(error({"task=poetry"}), HasSubstr("task: unknown task 'poetry' (known: image_classification, language_model)"));
  // A token outside the vocabulary is named with its file and position.
  trainrt::testing::write_file(data_ / "val.bin", std::string("\x10\x00\x00\x01", 4) + std::string(64, '\0'));
  EXPECT_THAT(trainrt::testing::error_of([&] { tasks::make_task(language_config(data_.path())); }),
              HasSubstr("val.bin': token 256 at position 1 is outside the vocabulary 0..255"));
}

}  // namespace
}  // namespace trainrt::train
