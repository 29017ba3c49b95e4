// Every registered name builds, as Caffe's test_layer_factory.cpp creates every registered layer
// type: each built-in model runs a forward and backward pass, each optimizer takes a step, each
// schedule gives learning rates, each data format opens both splits of small files, each task opens
// its data and scores a batch. A built-in name without a recipe here fails the test, so a new
// built-in comes with its check. Also: unknown names are reported with the known ones, naming the
// config field, before any data is read.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <png.h>
#include <sys/stat.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <map>

#include "test_util.h"
#include "trainrt/config/load.h"
#include "trainrt/data/format_registry.h"
#include "trainrt/models/registry.h"
#include "trainrt/optim/optimizer.h"
#include "trainrt/optim/schedule.h"
#include "trainrt/tasks/tasks.h"

namespace trainrt {
namespace {

using ::testing::HasSubstr;
using testing::error_of;
using testing::TempDir;
using testing::write_file;

// The built-in names: the registries as they are before any test or plugin of this binary adds its
// own ("linear_test", the test plugin's), captured during static initialisation, when libtrainrt is
// loaded and no test has run.
struct BuiltIns {
  std::vector<std::string> models = models::ModelRegistry::instance().names();
  std::vector<std::string> formats = data::DatasetRegistry::instance().formats().names();
  std::vector<std::string> tasks = tasks::TaskRegistry::instance().names();
  std::vector<std::string> optimizers = optim::OptimizerRegistry::instance().names();
  std::vector<std::string> schedules = optim::ScheduleRegistry::instance().names();
};
const BuiltIns kBuiltIns;

// The resolved default config (every field explicit) with data.dir = `dir`, then `overrides`.
config::TrainConfig config_with(const std::string& dir, std::vector<std::string> overrides = {}) {
  overrides.insert(overrides.begin(), "data.dir=" + dir);
  return config::resolve_config(config::parse_config_text("seed: 3", "registries_test"), overrides,
                                "registries_test");
}

// ---- models ----------------------------------------------------------------------------------

struct ModelCase {
  std::vector<std::string> overrides;  // model.name is added
  models::ModelSpec spec;
  torch::Tensor input;
  std::vector<int64_t> output;
};

// A two-layer module scripted from C++ (no Python needed): [N, 1, 8, 8] -> [N, 10].
std::string write_script_module(const std::string& path) {
  torch::jit::Module module("RegistriesTestNet");
  module.register_parameter("weight", torch::randn({10, 64}).requires_grad_(), /*is_buffer=*/false);
  module.register_parameter("bias", torch::zeros({10}).requires_grad_(), /*is_buffer=*/false);
  module.define(R"JIT(
def forward(self, x):
    return torch.matmul(torch.flatten(x, 1), self.weight.t()) + self.bias
)JIT");
  module.save(path);
  return path;
}

// How to build and run each built-in model; files it needs go into `dir`.
std::map<std::string, std::function<ModelCase(const std::string& dir)>> model_recipes() {
  auto image_model = [](const std::string&) {
    return ModelCase{{}, {{1, 28, 28}, 10}, torch::randn({2, 1, 28, 28}), {2, 10}};
  };
  return {
      {"mlp", image_model},
      {"cnn", image_model},
      {"resnet", image_model},
      {"gpt",
       [](const std::string&) {
         return ModelCase{{"model.gpt.layers=1", "model.gpt.width=16", "model.gpt.heads=2", "model.gpt.context=8"},
                          {{8}, 11, torch::kLong},
                          torch::randint(0, 11, {2, 8}, torch::kLong),
                          {2, 8, 11}};
       }},
      {"torchscript",
       [](const std::string& dir) {
         return ModelCase{{"model.torchscript.path=" + write_script_module(dir + "/net.ts")},
                          {{1, 8, 8}, 10},
                          torch::randn({2, 1, 8, 8}),
                          {2, 10}};
       }},
  };
}

TEST(Registries, EveryBuiltInModelBuildsRunsForwardAndBackward) {
  ASSERT_FALSE(kBuiltIns.models.empty());
  const auto recipes = model_recipes();
  for (const auto& name : kBuiltIns.models) {
    SCOPED_TRACE("model.name=" + name);
    const auto recipe = recipes.find(name);
    ASSERT_NE(recipe, recipes.end()) << "a built-in model without a recipe in model_recipes()";
    TempDir dir;
    ModelCase c = recipe->second(dir.path());
    c.overrides.push_back("model.name=" + name);
    torch::manual_seed(1);
    auto model = models::ModelRegistry::instance().create(config_with(dir.path(), c.overrides).model(), c.spec);
    const torch::Tensor out = model->forward(c.input);
    EXPECT_EQ(out.sizes().vec(), c.output);
    EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
    out.sum().backward();
    int64_t parameters = 0;
    for (const auto& p : model->parameters()) {
      EXPECT_TRUE(p.grad().defined());
      ++parameters;
    }
    EXPECT_GT(parameters, 0);
  }
}

// ---- optimizers and schedules ------------------------------------------------------------------

TEST(Registries, EveryBuiltInOptimizerDescends) {
  ASSERT_FALSE(kBuiltIns.optimizers.empty());
  TempDir dir;
  for (const auto& name : kBuiltIns.optimizers) {
    SCOPED_TRACE("optimizer.name=" + name);
    const auto config = config_with(dir.path(), {"optimizer.name=" + name, "optimizer.lr=0.1"});
    torch::Tensor w = torch::ones({3}, torch::requires_grad());
    auto optimizer = optim::make_optimizer(config.optimizer(), {w});
    for (int step = 0; step < 3; ++step) {
      optimizer->zero_grad();
      (w * w).sum().backward();  // the minimum is at 0
      optimizer->step();
    }
    EXPECT_LT(w.detach().abs().max().item<float>(), 0.95f);
  }
}

TEST(Registries, EveryBuiltInScheduleWarmsUpThenStaysWithinThePeak) {
  ASSERT_FALSE(kBuiltIns.schedules.empty());
  TempDir dir;
  constexpr int64_t kSteps = 20;
  for (const auto& name : kBuiltIns.schedules) {
    SCOPED_TRACE("schedule.name=" + name);
    const auto schedule = config_with(dir.path(), {"schedule.name=" + name, "schedule.warmup_steps=4",
                                                   "schedule.step_size=5", "schedule.gamma=0.5",
                                                   "schedule.min_lr_ratio=0.1"}).schedule();
    EXPECT_DOUBLE_EQ(optim::learning_rate_at(schedule, 2.0, 0, kSteps), 0.5);
    EXPECT_DOUBLE_EQ(optim::learning_rate_at(schedule, 2.0, 3, kSteps), 2.0);  // the warmup's end
    for (int64_t step = 4; step < kSteps; ++step) {
      const double lr = optim::learning_rate_at(schedule, 2.0, step, kSteps);
      EXPECT_TRUE(std::isfinite(lr) && lr > 0 && lr <= 2.0) << "step " << step << ": " << lr;
    }
  }
}

// ---- data formats ------------------------------------------------------------------------------

struct FormatCase {
  std::vector<std::string> overrides;  // data.format is added
  std::vector<int64_t> sample_shape;
  int64_t classes;
  int64_t train_size, test_size;
};

// Records of 1 label byte (r % classes) and `sample` bytes.
std::string records(int count, int sample, int classes) {
  std::string bytes;
  for (int r = 0; r < count; ++r) {
    bytes.push_back(static_cast<char>(r % classes));
    bytes.append(static_cast<size_t>(sample), static_cast<char>(r * 7));
  }
  return bytes;
}

void write_png(const std::string& path, int width, int height) {
  std::vector<uint8_t> pixels(static_cast<size_t>(width * height * 3), 128);
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(width);
  png.height = static_cast<png_uint_32>(height);
  png.format = PNG_FORMAT_RGB;
  ASSERT_TRUE(png_image_write_to_file(&png, path.c_str(), 0, pixels.data(), 0, nullptr)) << path;
}

// How to write small files of each built-in format into `dir`, and what the task must find there.
std::map<std::string, std::function<FormatCase(const std::string& dir)>> format_recipes() {
  return {
      {"idx",
       [](const std::string& dir) {
         testing::write_idx_dataset(dir, 20, 10, 8, 8);
         return FormatCase{{}, {1, 8, 8}, 10, 20, 10};
       }},
      {"cifar10",
       [](const std::string& dir) {
         for (int i = 1; i <= 5; ++i) write_file(dir + "/data_batch_" + std::to_string(i) + ".bin", records(2, 3072, 10));
         write_file(dir + "/test_batch.bin", records(3, 3072, 10));
         return FormatCase{{}, {3, 32, 32}, 10, 10, 3};
       }},
      {"records",
       [](const std::string& dir) {
         write_file(dir + "/train.bin", records(6, 24, 3));
         write_file(dir + "/test.bin", records(2, 24, 3));
         return FormatCase{{"data.records.shape=2,3,4"}, {2, 3, 4}, 3, 6, 2};
       }},
      {"csv",
       [](const std::string& dir) {
         write_file(dir + "/train.csv", "label,a,b\n0,1.5,2\n2,0.5,1\n1,3,4\n");
         write_file(dir + "/test.csv", "label,a,b\n1,1,1\n");
         return FormatCase{{}, {2}, 3, 3, 1};
       }},
      {"image_folder",
       [](const std::string& dir) {
         for (const char* folder : {"/train", "/train/cat", "/train/dog", "/test", "/test/dog"}) {
           mkdir((dir + folder).c_str(), 0755);
         }
         write_png(dir + "/train/cat/a.png", 6, 4);
         write_png(dir + "/train/dog/b.png", 6, 4);
         write_png(dir + "/test/dog/c.png", 6, 4);
         return FormatCase{{"data.image_folder.height=4", "data.image_folder.width=6"}, {3, 4, 6}, 2, 2, 1};
       }},
  };
}

TEST(Registries, EveryBuiltInDataFormatOpensBothSplitsThroughTheTask) {
  ASSERT_FALSE(kBuiltIns.formats.empty());
  const auto recipes = format_recipes();
  for (const auto& name : kBuiltIns.formats) {
    SCOPED_TRACE("data.format=" + name);
    const auto recipe = recipes.find(name);
    ASSERT_NE(recipe, recipes.end()) << "a built-in data format without a recipe in format_recipes()";
    TempDir dir;
    FormatCase c = recipe->second(dir.path());
    c.overrides.push_back("data.format=" + name);
    const auto config = config_with(dir.path(), c.overrides);
    // The factory itself, as a plugin's would be called.
    const data::CustomSplit train =
        data::DatasetRegistry::instance().formats().get(name, "data.format")(config.data(), /*train=*/true);
    EXPECT_EQ(train.sample_shape, c.sample_shape);
    EXPECT_EQ(train.classes, c.classes);
    ASSERT_TRUE(train.dataset);
    EXPECT_EQ(train.dataset->size(), c.train_size);
    // Through the task: both splits, their checks, the model's shape.
    auto task = tasks::make_task(config);
    EXPECT_EQ(task->model_spec().input_shape, c.sample_shape);
    EXPECT_EQ(task->model_spec().num_outputs, c.classes);
    EXPECT_EQ(task->train_set()->size(), c.train_size);
    EXPECT_EQ(task->eval_set()->size(), c.test_size);
    EXPECT_EQ(task->eval_set()->get(0).input.sizes().vec(), c.sample_shape);
  }
}

TEST(Registries, AnImageFolderTestSplitKeepsTheTrainingClassIndices) {
  TempDir dir;
  format_recipes().at("image_folder")(dir.path());  // test/ holds only "dog", the second class
  auto task = tasks::make_task(config_with(dir.path(), {"data.format=image_folder", "data.image_folder.height=4",
                                                        "data.image_folder.width=6", "data.train_limit=1"}));
  EXPECT_EQ(task->eval_set()->get(0).target, 1);
  EXPECT_EQ(task->train_set()->size(), 1);  // data.train_limit
}

// ---- tasks -------------------------------------------------------------------------------------

// Little-endian uint16 tokens 0..15, repeated.
void write_tokens(const std::string& path, int count) {
  std::string bytes;
  for (int i = 0; i < count; ++i) {
    bytes.push_back(static_cast<char>(i % 16));
    bytes.push_back(0);
  }
  write_file(path, bytes);
}

// How to give each built-in task data (files into `dir`); returns the config's overrides.
std::map<std::string, std::function<std::vector<std::string>(const std::string& dir)>> task_recipes() {
  return {
      {"image_classification",
       [](const std::string& dir) {
         testing::write_idx_dataset(dir, 20, 10, 8, 8);
         return std::vector<std::string>{"model.name=mlp", "model.mlp.hidden=8"};
       }},
      {"language_model",
       [](const std::string& dir) {
         write_tokens(dir + "/train.bin", 100);
         write_tokens(dir + "/val.bin", 40);
         return std::vector<std::string>{"data.format=tokens", "data.tokens.vocab_size=16", "model.name=gpt",
                                         "model.gpt.layers=1", "model.gpt.width=16", "model.gpt.heads=2",
                                         "model.gpt.context=8"};
       }},
  };
}

TEST(Registries, EveryBuiltInTaskOpensItsDataAndScoresABatch) {
  ASSERT_FALSE(kBuiltIns.tasks.empty());
  const auto recipes = task_recipes();
  for (const auto& name : kBuiltIns.tasks) {
    SCOPED_TRACE("task=" + name);
    const auto recipe = recipes.find(name);
    ASSERT_NE(recipe, recipes.end()) << "a built-in task without a recipe in task_recipes()";
    TempDir dir;
    std::vector<std::string> overrides = recipe->second(dir.path());
    overrides.push_back("task=" + name);
    const auto config = config_with(dir.path(), overrides);
    auto task = tasks::make_task(config);
    ASSERT_GT(task->eval_set()->size(), 1);
    auto model = models::ModelRegistry::instance().create(config.model(), task->model_spec());
    const auto collator = task->eval_collator();
    data::Batch batch = collator->allocate(2);
    for (int64_t row = 0; row < 2; ++row) collator->put(batch, row, task->eval_set()->get(row), 0, row);
    collator->finish(batch, 2);
    const train::TaskOutput out = task->compute(*model, batch, /*count_correct=*/true);
    EXPECT_TRUE(std::isfinite(out.loss.item<double>()));
    EXPECT_GE(out.correct, 0);
  }
}

// ---- unknown names -----------------------------------------------------------------------------

// "a, b, c)": the end of an unknown-name message.
std::string known(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
  return text + ")";
}

TEST(Registries, UnknownNamesAreReportedTogetherWithTheKnownOnesBeforeDataIsRead) {
  TempDir empty;  // no data: the names fail first
  const auto config = config_with(empty.path(), {"task=poetry", "model.name=transformer",
                                                 "optimizer.name=rmsprop", "schedule.name=linear"});
  const auto problems = tasks::unknown_names(config);
  ASSERT_EQ(problems.size(), 4u);
  // Each lists what its registry holds now (other tests of this binary may have added models).
  EXPECT_EQ(problems[0], "task: unknown task 'poetry' (known: " + known(tasks::TaskRegistry::instance().names()));
  EXPECT_EQ(problems[1],
            "model.name: unknown model 'transformer' (known: " + known(models::ModelRegistry::instance().names()));
  EXPECT_EQ(problems[2], "optimizer.name: unknown optimizer 'rmsprop' (known: " +
                             known(optim::OptimizerRegistry::instance().names()));
  EXPECT_EQ(problems[3], "schedule.name: unknown learning-rate schedule 'linear' (known: " +
                             known(optim::ScheduleRegistry::instance().names()));
  EXPECT_THAT(problems[1], HasSubstr("cnn, gpt"));
  EXPECT_THAT(problems[2], HasSubstr("(known: adamw, sgd)"));
  const std::string message = error_of([&] { tasks::make_task(config); });
  for (const auto& problem : problems) EXPECT_THAT(message, HasSubstr(problem));
  EXPECT_TRUE(tasks::unknown_names(config_with(empty.path())).empty());
}

TEST(Registries, DataFormatsAreTheTasksToCheck) {
  TempDir dir;
  testing::write_idx_dataset(dir.path(), 20, 10, 8, 8);
  EXPECT_THAT(error_of([&] { tasks::make_task(config_with(dir.path(), {"data.format=parquet"})); }),
              HasSubstr("data.format: unknown data format 'parquet' (known: " +
                        known(data::DatasetRegistry::instance().formats().names())));
  EXPECT_THAT(error_of([&] { tasks::make_task(config_with(dir.path(), {"data.format=tokens"})); }),
              HasSubstr("data.format: 'tokens' does not fit task 'image_classification'"));
  EXPECT_THAT(error_of([&] { tasks::make_task(config_with(dir.path(), {"task=language_model", "model.name=cnn"})); }),
              HasSubstr("data.format: 'idx' does not fit task 'language_model' (a language model reads \"tokens\")\n"
                        "  model.name: 'cnn' cannot model language"));
}

}  // namespace
}  // namespace trainrt
