// Config parsing, overrides and validation: every way a config can be wrong gets a message that
// names the place (file:line:column or field path).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "test_util.h"
#include "trainrt/config/changes.h"
#include "trainrt/config/choices.h"
#include "trainrt/config/load.h"
#include "trainrt/config/overrides.h"
#include "trainrt/config/validate.h"
#include "trainrt/core/error.h"

namespace trainrt::config {
namespace {

using ::testing::HasSubstr;
using trainrt::testing::error_of;
using trainrt::testing::TempDir;

// Resolves `text` with the data folder pointed at one that exists on every machine (the default,
// Fashion-MNIST's, may not be installed), then `overrides`.
TrainConfig resolve_text(const std::string& text, const std::vector<std::string>& overrides = {}) {
  std::vector<std::string> all = {"data.dir=" + ::testing::TempDir()};
  all.insert(all.end(), overrides.begin(), overrides.end());
  return resolve_config(parse_config_text(text, "test.pbtxt"), all, "test.pbtxt");
}

TEST(ConfigParse, TextFormatSetsFieldsAndKeepsDefaults) {
  const TrainConfig config = resolve_text(R"pb(
    seed: 7
    model { name: "mlp" mlp { hidden: [64, 32] } }
    data { batch_size: 32 }
    train { epochs: 2 }
  )pb");
  EXPECT_EQ(config.seed(), 7u);
  EXPECT_EQ(config.model().name(), "mlp");
  ASSERT_EQ(config.model().mlp().hidden_size(), 2);
  EXPECT_EQ(config.model().mlp().hidden(1), 32);
  EXPECT_EQ(config.data().batch_size(), 32);
  EXPECT_EQ(config.train().epochs(), 2);
  // Defaults: scalar from the schema, repeated from the documented list.
  EXPECT_EQ(config.optimizer().name(), "sgd");
  EXPECT_DOUBLE_EQ(config.optimizer().lr(), 0.05);
  ASSERT_EQ(config.model().cnn().channels_size(), 2);
  EXPECT_EQ(config.model().cnn().channels(0), 32);
  EXPECT_FLOAT_EQ(config.data().mean(0), 0.2860f);
}

TEST(ConfigParse, UnknownFieldNamesFileLineAndColumn) {
  const std::string message = error_of([] {
    parse_config_text("seed: 1\ndata {\n  batch_sise: 3\n}\n", "bad.pbtxt");
  });
  EXPECT_THAT(message, HasSubstr("bad.pbtxt:3:"));
  EXPECT_THAT(message, HasSubstr("batch_sise"));
}

TEST(ConfigParse, WrongTypeNamesFileAndLine) {
  const std::string message =
      error_of([] { parse_config_text("data {\n batch_size: \"many\"\n}\n", "bad.pbtxt"); });
  EXPECT_THAT(message, HasSubstr("bad.pbtxt:2:"));
  EXPECT_THAT(message, HasSubstr("batch_size"));
}

TEST(ConfigParse, JsonIsAcceptedWithSchemaNames) {
  const TrainConfig config = parse_config_json(
      R"({"seed": 3, "data": {"batch_size": 16}, "optimizer": {"name": "adamw"}})", "c.json");
  EXPECT_EQ(config.seed(), 3u);
  EXPECT_EQ(config.data().batch_size(), 16);
  EXPECT_EQ(config.optimizer().name(), "adamw");
}

TEST(ConfigParse, JsonSyntaxErrorNamesLine) {
  const std::string message =
      error_of([] { parse_config_json("{\n  \"seed\": 3,\n  \"data\": {\n}", "c.json"); });
  EXPECT_THAT(message, HasSubstr("c.json:4:"));
}

TEST(ConfigParse, JsonUnknownFieldIsAnError) {
  const std::string message = error_of([] { parse_config_json(R"({"sede": 3})", "c.json"); });
  EXPECT_THAT(message, HasSubstr("c.json"));
  EXPECT_THAT(message, HasSubstr("sede"));
}

TEST(ConfigParse, JsonNumberBeyondAnyTypeIsAConfigError) {
  // Found by the config fuzzer: nlohmann's out_of_range escaped as an unnamed exception.
  EXPECT_THAT(error_of([] { parse_config_json(R"({"optimizer": {"lr": 5e2200000}})", "c.json"); }),
              HasSubstr("c.json: invalid JSON ([json.exception.out_of_range.406] number overflow"));
}

TEST(ConfigLoad, ReadsFilesByExtensionAndReportsMissingOnes) {
  TempDir dir;
  trainrt::testing::write_file(dir / "a.pbtxt", "seed: 5\ndata { dir: \"" + dir.path() + "\" }\n");
  trainrt::testing::write_file(dir / "b.json", R"({"seed": 6, "data": {"dir": ")" + dir.path() + "\"}}");
  EXPECT_EQ(load_config(dir / "a.pbtxt").seed(), 5u);
  EXPECT_EQ(load_config(dir / "b.json").seed(), 6u);
  EXPECT_THAT(error_of([&] { load_config(dir / "missing.pbtxt"); }),
              HasSubstr("cannot open config file '" + (dir / "missing.pbtxt") + "'"));
}

TEST(ConfigOverride, SetsNestedScalarsStringsAndLists) {
  const TrainConfig config = resolve_text("", {"data.batch_size=64", "optimizer.name=adamw",
                                               "model.cnn.channels=[8, 16]", "seed=9",
                                               "data.augment.horizontal_flip=true"});
  EXPECT_EQ(config.data().batch_size(), 64);
  EXPECT_EQ(config.optimizer().name(), "adamw");
  ASSERT_EQ(config.model().cnn().channels_size(), 2);
  EXPECT_EQ(config.model().cnn().channels(1), 16);
  EXPECT_EQ(config.seed(), 9u);
  EXPECT_TRUE(config.data().augment().horizontal_flip());
}

TEST(ConfigOverride, LaterOverridesWinAndListsReplace) {
  TrainConfig config;
  apply_override(config, "model.mlp.hidden=1,2,3");
  apply_override(config, "model.mlp.hidden=4");
  apply_override(config, "train.epochs=3");
  apply_override(config, "train.epochs=4");
  ASSERT_EQ(config.model().mlp().hidden_size(), 1);
  EXPECT_EQ(config.model().mlp().hidden(0), 4);
  EXPECT_EQ(config.train().epochs(), 4);
}

TEST(ConfigOverride, UnknownFieldListsTheFieldsThatExist) {
  TrainConfig config;
  const std::string message = error_of([&] { apply_override(config, "data.batch=3"); });
  EXPECT_THAT(message, HasSubstr("no field 'batch'"));
  EXPECT_THAT(message, HasSubstr("batch_size"));
}

TEST(ConfigOverride, BadValueSyntaxAndSectionsAreErrors) {
  TrainConfig config;
  EXPECT_THAT(error_of([&] { apply_override(config, "data.batch_size=lots"); }),
              HasSubstr("'lots' is not a valid int32"));
  EXPECT_THAT(error_of([&] { apply_override(config, "data.batch_size"); }),
              HasSubstr("expected FIELD.PATH=VALUE"));
  EXPECT_THAT(error_of([&] { apply_override(config, "data=3"); }), HasSubstr("is a section"));
  EXPECT_THAT(error_of([&] { apply_override(config, "seed.x=3"); }), HasSubstr("is a value"));
  EXPECT_THAT(error_of([&] { apply_override(config, "data.batch_size=99999999999"); }),
              HasSubstr("not a valid int32"));
}

// Each invalid setting, and the words its message must contain.
struct InvalidCase {
  std::string override_text;
  std::string expected;
};

class ConfigValidation : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(ConfigValidation, RejectsWithFieldPathAndAllowedValues) {
  const std::string message = error_of([] { resolve_text("", {GetParam().override_text}); });
  EXPECT_THAT(message, HasSubstr("test.pbtxt: invalid config"));
  EXPECT_THAT(message, HasSubstr(GetParam().expected));
}

std::string case_name(const ::testing::TestParamInfo<InvalidCase>& info) {
  std::string name;
  for (char c : info.param.override_text.substr(0, info.param.override_text.find('='))) {
    name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  }
  return name + "_" + std::to_string(info.index);
}

INSTANTIATE_TEST_SUITE_P(
    EveryRule, ConfigValidation,
    ::testing::Values(
        InvalidCase{"model.mlp.hidden=0", "model.mlp.hidden[0]: 0 is out of range"},
        InvalidCase{"model.mlp.dropout=1", "model.mlp.dropout"},
        InvalidCase{"model.cnn.channels=1,2,3,4,5", "model.cnn.channels: needs 1 to 4"},
        InvalidCase{"model.cnn.channels=16,-1", "model.cnn.channels[1]"},
        InvalidCase{"model.cnn.hidden=0", "model.cnn.hidden"},
        InvalidCase{"model.cnn.dropout=-0.5", "model.cnn.dropout"},
        InvalidCase{"model.resnet.width=0", "model.resnet.width"},
        InvalidCase{"model.resnet.blocks=[]", "model.resnet.blocks: needs 1 to 4 stages"},
        InvalidCase{"model.resnet.blocks=2,0", "model.resnet.blocks[1]"},
        InvalidCase{"data.tokens.token_bytes=3", "data.tokens.token_bytes: must be 2 (uint16) or 4 (uint32)"},
        InvalidCase{"data.tokens.vocab_size=70000", "data.tokens.vocab_size: 70000 is out of range (allowed: 1..65536 for 2-byte tokens)"},
        InvalidCase{"model.gpt.layers=0", "model.gpt.layers"},
        InvalidCase{"model.gpt.heads=3", "model.gpt.width: 128 does not divide among 3 heads"},
        InvalidCase{"model.gpt.context=0", "model.gpt.context"},
        InvalidCase{"model.gpt.dropout=1", "model.gpt.dropout"},
        InvalidCase{"runtime.device=tpu", "runtime.device: 'tpu' is not known (allowed: auto, cpu, cuda)"},
        InvalidCase{"runtime.precision=float16", "runtime.precision: 'float16' is not known (allowed: float32, bfloat16)"},
        InvalidCase{"data.format=records", "data.records.shape: is required for format \"records\""},
        InvalidCase{"data.augment.random_erasing=1.5", "data.augment.random_erasing"},
        InvalidCase{"data.num_classes=-1", "data.num_classes"},
        InvalidCase{"data.csv.label_column=-1", "data.csv.label_column"},
        InvalidCase{"data.image_folder.channels=2", "data.image_folder.channels: must be 1 or 3"},
        InvalidCase{"data.image_folder.height=0", "data.image_folder.height"},
        InvalidCase{"data.dir=/nonexistent/dir", "data.dir: '/nonexistent/dir' is not a directory"},
        InvalidCase{"data.batch_size=0", "data.batch_size: 0 is out of range (allowed: 1..1048576)"},
        InvalidCase{"data.eval_batch_size=-1", "data.eval_batch_size"},
        InvalidCase{"data.train_limit=-1", "data.train_limit"},
        InvalidCase{"data.eval_limit=-1", "data.eval_limit"},
        InvalidCase{"data.std=0.1,0.2", "data.std: has 2 values but data.mean has 1"},
        InvalidCase{"data.std=0", "data.std[0]: must be > 0"},
        InvalidCase{"data.augment.random_crop_padding=100", "data.augment.random_crop_padding"},
        InvalidCase{"data.loader.threads=-2", "data.loader.threads"},
        InvalidCase{"data.loader.prefetch=0", "data.loader.prefetch"},
        InvalidCase{"optimizer.lr=0", "optimizer.lr"},
        InvalidCase{"optimizer.momentum=1", "optimizer.momentum"},
        InvalidCase{"optimizer.momentum=0", "optimizer.nesterov: Nesterov needs optimizer.momentum > 0"},
        InvalidCase{"optimizer.weight_decay=-1", "optimizer.weight_decay"},
        InvalidCase{"optimizer.beta1=1", "optimizer.beta1"},
        InvalidCase{"optimizer.beta2=-0.1", "optimizer.beta2"},
        InvalidCase{"optimizer.eps=0", "optimizer.eps"},
        InvalidCase{"optimizer.grad_clip_norm=-1", "optimizer.grad_clip_norm"},
        InvalidCase{"schedule.warmup_steps=-1", "schedule.warmup_steps: must be >= 0"},
        InvalidCase{"schedule.min_lr_ratio=2", "schedule.min_lr_ratio"},
        InvalidCase{"schedule.step_size=0", "schedule.step_size"},
        InvalidCase{"schedule.gamma=0", "schedule.gamma"},
        InvalidCase{"train.epochs=0", "train.epochs"},
        InvalidCase{"train.max_steps=-5", "train.max_steps"},
        InvalidCase{"train.eval_every_steps=-1", "train.eval_every_steps"},
        InvalidCase{"train.log_every_steps=0", "train.log_every_steps"},
        InvalidCase{"runtime.threads=-1", "runtime.threads"},
        InvalidCase{"checkpoint.every_steps=-1", "checkpoint.every_steps: -1 is out of range (allowed: >= 0)"},
        InvalidCase{"checkpoint.every_minutes=-2", "checkpoint.every_minutes"},
        InvalidCase{"checkpoint.keep_last=-1", "checkpoint.keep_last"},
        InvalidCase{"checkpoint.on_error=ignore", "checkpoint.on_error: 'ignore' is not known (allowed: continue, stop)"}),
    case_name);

// "a, b, c": the values of a closed choice as its error lists them.
std::string joined(const std::vector<std::string>& values) {
  std::string text;
  for (const auto& value : values) text += (text.empty() ? "" : ", ") + value;
  return text;
}

TEST(ConfigChoices, EachClosedChoiceAcceptsTheTablesValuesAndRefusesOthersListingThem) {
  ASSERT_FALSE(closed_choices().empty());
  for (const auto& field : closed_choices()) {
    SCOPED_TRACE(field.field);
    const std::vector<std::string> values = choice_values(field.field);
    ASSERT_FALSE(values.empty());
    for (const auto& choice : field.choices) EXPECT_NE(std::string(choice.meaning), "") << choice.value;
    for (const auto& value : values) {
      EXPECT_EQ(error_of([&] { resolve_text("", {std::string(field.field) + "=" + value}); }), "") << value;
    }
    EXPECT_THAT(error_of([&] { resolve_text("", {std::string(field.field) + "=bogus"}); }),
                HasSubstr(std::string(field.field) + ": 'bogus' is not known (allowed: " + joined(values) + ")"));
  }
  EXPECT_THAT(error_of([] { choices_of("runtime.colour"); }), HasSubstr("no entry for 'runtime.colour'"));
}

// Every string field of the schema at or under `message`'s type, as "a.b.c" paths.
void string_fields(const google::protobuf::Descriptor& message, const std::string& prefix,
                   std::vector<std::string>& out) {
  for (int i = 0; i < message.field_count(); ++i) {
    const google::protobuf::FieldDescriptor& field = *message.field(i);
    const std::string path = prefix + field.name();
    if (field.type() == google::protobuf::FieldDescriptor::TYPE_STRING) out.push_back(path);
    if (field.type() == google::protobuf::FieldDescriptor::TYPE_MESSAGE) {
      string_fields(*field.message_type(), path + ".", out);
    }
  }
}

// The value of the string field at `path` ("a.b.c", an existing field) in `config`.
std::string string_at(const google::protobuf::Message& config, const std::string& path) {
  const google::protobuf::Message* message = &config;
  size_t start = 0;
  for (size_t dot; (dot = path.find('.', start)) != std::string::npos; start = dot + 1) {
    const auto* field = message->GetDescriptor()->FindFieldByName(path.substr(start, dot - start));
    message = &message->GetReflection()->GetMessage(*message, field);
  }
  const auto* leaf = message->GetDescriptor()->FindFieldByName(path.substr(start));
  return message->GetReflection()->GetString(*message, leaf);
}

// The table covers every string field whose values the schema fixes: a new string field is free
// text, an open name (a registry's) or a row of config/choices.cpp, and each row's default is one
// of its values.
TEST(ConfigChoices, EveryStringFieldOfTheSchemaIsFreeTextARegistrysNameOrInTheTable) {
  const std::set<std::string> free_text = {"name", "plugins", "model.torchscript.path", "data.dir",
                                           "checkpoint.dir", "observe.trace_file"};
  const std::set<std::string> open_names = {"task", "model.name", "data.format", "data.transforms",
                                            "optimizer.name", "schedule.name"};
  std::set<std::string> closed;
  for (const auto& field : closed_choices()) closed.insert(field.field);
  std::vector<std::string> fields;
  string_fields(*TrainConfig::descriptor(), "", fields);
  for (const auto& field : fields) {
    EXPECT_EQ(free_text.count(field) + open_names.count(field) + closed.count(field), 1u)
        << field << ": a string field is free text, a registry's name or a closed choice in config/choices.cpp";
  }
  const TrainConfig defaults = resolve_text("");
  for (const auto& field : closed) {
    if (std::count(fields.begin(), fields.end(), field) != 1) {
      ADD_FAILURE() << field << " is not a string field of the schema";
      continue;
    }
    EXPECT_THAT(choice_values(field), ::testing::Contains(string_at(defaults, field))) << field << "'s default";
  }
}

// Names picked from registries are not the config layer's: plugins register theirs after
// validation, and the registries check them (tests/core/registries_test.cpp).
TEST(ConfigChoices, OpenNamesAreLeftToTheRegistries) {
  const TrainConfig config = resolve_text("", {"task=poetry", "model.name=transformer", "data.format=parquet",
                                               "optimizer.name=rmsprop", "schedule.name=linear"});
  EXPECT_TRUE(validation_errors(config).empty());
}

TEST(ConfigValidationContradictions, WarmupLongerThanTrainingIsRejected) {
  const std::string message =
      error_of([] { resolve_text("", {"train.max_steps=10", "schedule.warmup_steps=10"}); });
  EXPECT_THAT(message, HasSubstr("schedule.warmup_steps: 10 warmup steps leave nothing"));
}

TEST(ConfigValidationContradictions, AllProblemsAreReportedTogether) {
  TrainConfig config = resolve_text("");
  config.mutable_data()->set_batch_size(0);
  config.mutable_optimizer()->set_lr(-1);
  EXPECT_EQ(validation_errors(config).size(), 2u);
}

TEST(ConfigText, ResolvedConfigRoundTripsWithEveryDefaultExplicit) {
  const TrainConfig config = resolve_text("seed: 4", {"data.batch_size=8"});
  const std::string text = config_to_text(config);
  EXPECT_THAT(text, HasSubstr("batch_size: 8"));
  EXPECT_THAT(text, HasSubstr("eval_batch_size: 256"));  // a default, written out
  const TrainConfig again = resolve_config(parse_config_text(text, "again"), {}, "again");
  EXPECT_EQ(again.SerializeAsString(), config.SerializeAsString());
}

TEST(ConfigChanges, EveryDifferingFieldInSchemaOrderAndWhichChangeTraining) {
  const TrainConfig before = resolve_text("seed: 4", {"model.name=mlp", "model.mlp.hidden=32,32"});
  const TrainConfig after = resolve_text("seed: 4", {"model.name=mlp", "model.mlp.hidden=64", "optimizer.lr=0.1",
                                                     "train.max_steps=9", "checkpoint.every_steps=5"});
  const auto changes = config_changes(before, after);
  ASSERT_EQ(changes.size(), 4u);
  EXPECT_EQ(changes[0].field, "model.mlp.hidden");
  EXPECT_EQ(changes[0].before, "[32, 32]");
  EXPECT_EQ(changes[0].after, "[64]");
  EXPECT_EQ(changes[1].field, "optimizer.lr");
  EXPECT_EQ(changes[1].before, "0.05");
  EXPECT_EQ(changes[1].after, "0.1");
  EXPECT_EQ(changes[2].field, "train.max_steps");
  EXPECT_EQ(changes[3].field, "checkpoint.every_steps");
  EXPECT_TRUE(config_changes(before, before).empty());
  for (const char* field : {"seed", "model.mlp.hidden", "optimizer.lr", "data.batch_size", "data.dir",
                            "schedule.name", "distributed.accumulation_steps", "runtime.precision", "task"}) {
    EXPECT_TRUE(changes_training(field)) << field;
  }
  for (const char* field : {"name", "train.max_steps", "train.epochs", "checkpoint.every_steps", "observe.tensorboard",
                            "runtime.threads", "data.loader.threads", "distributed.timeout_seconds"}) {
    EXPECT_FALSE(changes_training(field)) << field;
  }
}

}  // namespace
}  // namespace trainrt::config
