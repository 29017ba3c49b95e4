#include "trainrt/config/validate.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "trainrt/config/choices.h"
#include "trainrt/core/error.h"

namespace trainrt::config {
namespace {

// Accumulates "field: problem" lines; each check names the field path it guards.
class Checker {
 public:
  template <typename T>
  void range(const std::string& field, T value, T lo, T hi, const char* allowed) {
    if (value < lo || value > hi) add(field, fmt::format("{} is out of range (allowed: {})", value, allowed));
  }
  // A closed choice: `value` must be one of the values config/choices.cpp lists for `field`.
  void choice(const std::string& field, const std::string& value) {
    const auto allowed = choice_values(field);
    if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
      add(field, fmt::format("'{}' is not known (allowed: {})", value, fmt::join(allowed, ", ")));
    }
  }
  void require(bool ok, const std::string& field, const std::string& problem) {
    if (!ok) add(field, problem);
  }
  void add(const std::string& field, const std::string& problem) {
    errors.push_back(field + ": " + problem);
  }
  std::vector<std::string> errors;
};

void check_model(const ModelConfig& model, Checker& c) {
  // The name is checked against the model registry (Note [open names] in tasks/tasks.h), which
  // knows every registered name, plugins' included.
  for (int i = 0; i < model.mlp().hidden_size(); ++i) {
    c.range(fmt::format("model.mlp.hidden[{}]", i), model.mlp().hidden(i), 1, 1 << 16, "1..65536");
  }
  c.range("model.mlp.dropout", model.mlp().dropout(), 0.0f, 0.99f, "0 <= p < 1");
  c.require(model.cnn().channels_size() >= 1 && model.cnn().channels_size() <= 4,
            "model.cnn.channels", "needs 1 to 4 conv blocks (each halves the image)");
  for (int i = 0; i < model.cnn().channels_size(); ++i) {
    c.range(fmt::format("model.cnn.channels[{}]", i), model.cnn().channels(i), 1, 4096, "1..4096");
  }
  c.range("model.cnn.hidden", model.cnn().hidden(), 1, 1 << 16, "1..65536");
  c.range("model.cnn.dropout", model.cnn().dropout(), 0.0f, 0.99f, "0 <= p < 1");
  c.range("model.resnet.width", model.resnet().width(), 1, 1024, "1..1024");
  c.require(model.resnet().blocks_size() >= 1 && model.resnet().blocks_size() <= 4,
            "model.resnet.blocks", "needs 1 to 4 stages");
  for (int i = 0; i < model.resnet().blocks_size(); ++i) {
    c.range(fmt::format("model.resnet.blocks[{}]", i), model.resnet().blocks(i), 1, 64, "1..64");
  }
  const auto& gpt = model.gpt();
  c.range("model.gpt.layers", gpt.layers(), 1, 256, "1..256");
  c.range("model.gpt.width", gpt.width(), 1, 1 << 16, "1..65536");
  c.range("model.gpt.heads", gpt.heads(), 1, 1024, "1..1024");
  c.require(gpt.heads() < 1 || gpt.width() % gpt.heads() == 0, "model.gpt.width",
            fmt::format("{} does not divide among {} heads", gpt.width(), gpt.heads()));
  c.range("model.gpt.context", gpt.context(), 1, 1 << 20, "1..1048576");
  c.range("model.gpt.dropout", gpt.dropout(), 0.0f, 0.99f, "0 <= p < 1");
}

void check_data(const DataConfig& data, bool check_paths, Checker& c) {
  // The format is checked when the task opens the data: it knows the formats applications and
  // plugins registered (data/format_registry.h), and which fit it (Note [open names] in tasks/tasks.h).
  c.require(!check_paths || std::filesystem::is_directory(data.dir()), "data.dir",
            fmt::format("'{}' is not a directory (for Fashion-MNIST: apt-get install "
                        "dataset-fashion-mnist)", data.dir()));
  c.range("data.batch_size", data.batch_size(), 1, 1 << 20, "1..1048576");
  c.range("data.eval_batch_size", data.eval_batch_size(), 1, 1 << 20, "1..1048576");
  c.require(data.train_limit() >= 0, "data.train_limit", "must be >= 0 (0: all samples)");
  c.require(data.eval_limit() >= 0, "data.eval_limit", "must be >= 0 (0: all samples)");
  c.require(data.mean_size() == data.std_size(), "data.std",
            fmt::format("has {} values but data.mean has {}; give one per channel", data.std_size(),
                        data.mean_size()));
  for (int i = 0; i < data.std_size(); ++i) {
    c.require(data.std(i) > 0, fmt::format("data.std[{}]", i), "must be > 0");
  }
  c.range("data.augment.random_crop_padding", data.augment().random_crop_padding(), 0, 64, "0..64");
  c.range("data.augment.random_erasing", data.augment().random_erasing(), 0.0f, 1.0f, "0..1");
  c.range("data.num_classes", data.num_classes(), 0, 1 << 24, "0 (the format's) ..16777216");
  if (data.format() == "records") {
    c.require(data.records().shape_size() >= 1, "data.records.shape",
              "is required for format \"records\" (e.g. [3, 32, 32])");
    for (int i = 0; i < data.records().shape_size(); ++i) {
      c.range(fmt::format("data.records.shape[{}]", i), data.records().shape(i), int64_t{1},
              int64_t{1} << 24, "1..16777216");
    }
    c.range("data.records.label_bytes", data.records().label_bytes(), 0, 1, "0 or 1");
    c.require(data.records().header_bytes() >= 0, "data.records.header_bytes", "must be >= 0");
  }
  c.require(data.csv().label_column() >= 0, "data.csv.label_column", "must be >= 0");
  c.range("data.image_folder.height", data.image_folder().height(), 1, 8192, "1..8192");
  c.range("data.image_folder.width", data.image_folder().width(), 1, 8192, "1..8192");
  c.require(data.image_folder().channels() == 1 || data.image_folder().channels() == 3,
            "data.image_folder.channels", "must be 1 or 3");
  c.require(data.tokens().token_bytes() == 2 || data.tokens().token_bytes() == 4,
            "data.tokens.token_bytes", "must be 2 (uint16) or 4 (uint32)");
  c.range<int64_t>("data.tokens.vocab_size", data.tokens().vocab_size(), 1,
                   data.tokens().token_bytes() == 2 ? 65536 : INT32_MAX,
                   data.tokens().token_bytes() == 2 ? "1..65536 for 2-byte tokens" : "1..2147483647");
  c.range("data.loader.threads", data.loader().threads(), 0, 256, "0 (automatic) ..256");
  c.range("data.loader.prefetch", data.loader().prefetch(), 1, 1024, "1..1024");
}

void check_optimizer(const OptimizerConfig& opt, Checker& c) {
  // The name is checked against the optimizer registry (Note [open names] in tasks/tasks.h).
  c.require(opt.lr() > 0 && opt.lr() <= 100, "optimizer.lr",
            fmt::format("{} is out of range (allowed: 0 < lr <= 100)", opt.lr()));
  c.range("optimizer.momentum", opt.momentum(), 0.0, 0.999999, "0 <= momentum < 1");
  c.require(!(opt.name() == "sgd" && opt.nesterov() && opt.momentum() == 0), "optimizer.nesterov",
            "Nesterov needs optimizer.momentum > 0; set momentum or nesterov: false");
  c.require(opt.weight_decay() >= 0, "optimizer.weight_decay", "must be >= 0");
  c.range("optimizer.beta1", opt.beta1(), 0.0, 0.999999, "0 <= beta1 < 1");
  c.range("optimizer.beta2", opt.beta2(), 0.0, 0.999999, "0 <= beta2 < 1");
  c.require(opt.eps() > 0, "optimizer.eps", "must be > 0");
  c.require(opt.grad_clip_norm() >= 0, "optimizer.grad_clip_norm", "must be >= 0 (0: off)");
}

void check_schedule(const TrainConfig& config, Checker& c) {
  const auto& s = config.schedule();
  // The name is checked against the schedule registry (Note [open names] in tasks/tasks.h).
  c.require(s.warmup_steps() >= 0, "schedule.warmup_steps", "must be >= 0");
  c.range("schedule.min_lr_ratio", s.min_lr_ratio(), 0.0, 1.0, "0..1");
  c.require(s.step_size() > 0, "schedule.step_size", "must be > 0");
  c.require(s.gamma() > 0 && s.gamma() <= 1, "schedule.gamma",
            fmt::format("{} is out of range (allowed: 0 < gamma <= 1)", s.gamma()));
  const int64_t max_steps = config.train().max_steps();
  c.require(max_steps == 0 || s.warmup_steps() < max_steps, "schedule.warmup_steps",
            fmt::format("{} warmup steps leave nothing of train.max_steps = {}", s.warmup_steps(),
                        max_steps));
}

void check_train(const TrainConfig& config, Checker& c) {
  const auto& t = config.train();
  c.range("train.epochs", t.epochs(), 1, 1000000, "1..1000000");
  c.require(t.max_steps() >= 0, "train.max_steps", "must be >= 0 (0: run all epochs)");
  c.require(t.eval_every_steps() >= 0, "train.eval_every_steps", "must be >= 0 (0: every epoch)");
  c.require(t.log_every_steps() >= 1, "train.log_every_steps", "must be >= 1");
  c.choice("train.on_nonfinite", t.on_nonfinite());
  c.range("train.max_consecutive_skips", t.max_consecutive_skips(), 1, 1000000, "1..1000000");
  c.range("runtime.threads", config.runtime().threads(), 0, 1024, "0 (automatic) ..1024");
  c.choice("runtime.device", config.runtime().device());
  c.choice("runtime.precision", config.runtime().precision());
}

void check_distributed(const TrainConfig& config, Checker& c) {
  const auto& d = config.distributed();
  c.choice("distributed.backend", d.backend());
  c.range("distributed.bucket_mb", d.bucket_mb(), 0.001, 4096.0, "0.001..4096");
  c.range("distributed.first_bucket_mb", d.first_bucket_mb(), 0.001, 4096.0, "0.001..4096");
  c.range("distributed.timeout_seconds", d.timeout_seconds(), 1.0, 86400.0, "1..86400");
  c.choice("distributed.grad_dtype", d.grad_dtype());
  c.range("distributed.accumulation_steps", d.accumulation_steps(), 1, 65536, "1..65536");
  c.range("distributed.replace_timeout_seconds", d.replace_timeout_seconds(), 0.0, 86400.0, "0..86400");
  c.range("distributed.min_world_size", d.min_world_size(), 0, 1 << 24, ">= 0");
}

void check_checkpoint(const TrainConfig& config, Checker& c) {
  const auto& k = config.checkpoint();
  c.range<int64_t>("checkpoint.every_steps", k.every_steps(), 0, INT64_MAX, ">= 0");
  c.range("checkpoint.every_minutes", k.every_minutes(), 0.0, 525600.0, "0..525600");
  c.range("checkpoint.keep_last", k.keep_last(), 0, 1 << 20, ">= 0");
  c.choice("checkpoint.on_error", k.on_error());
}

void check_observe(const TrainConfig& config, Checker& c) {
  const auto& o = config.observe();
  c.range<int64_t>("observe.trace_first_step", o.trace_first_step(), 1, INT64_MAX, ">= 1");
  c.range<int64_t>("observe.trace_steps", o.trace_steps(), 1, 100000, "1..100000");
}

}  // namespace

std::vector<std::string> validation_errors(const TrainConfig& config, const ValidationOptions& options) {
  Checker checker;
  check_model(config.model(), checker);
  check_data(config.data(), options.check_paths, checker);
  check_optimizer(config.optimizer(), checker);
  check_schedule(config, checker);
  check_train(config, checker);
  check_distributed(config, checker);
  check_checkpoint(config, checker);
  check_observe(config, checker);
  return checker.errors;
}

void validate_config(const TrainConfig& config, const std::string& source, const ValidationOptions& options) {
  const auto errors = validation_errors(config, options);
  if (errors.empty()) return;
  throw ConfigError(fmt::format("{}: invalid config:\n  {}", source, fmt::join(errors, "\n  ")));
}

}  // namespace trainrt::config
