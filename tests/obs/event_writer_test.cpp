// TensorBoard event files read back by their format: TFRecord framing, both masked CRC-32Cs
// (checked with a bitwise CRC-32C written here, independent of the library's ISA-L one), the
// Event protos, and the scalars the Trainer writes.
#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_util.h"
#include "train/train_test_util.h"
#include "trainrt/obs/event.pb.h"
#include "trainrt/obs/event_writer.h"

namespace trainrt::obs {
namespace {

using trainrt::testing::TempDir;

uint32_t bitwise_crc32c(const std::string& data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : data) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

uint32_t masked(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

uint64_t little_endian(const std::string& bytes, size_t at, int width) {
  uint64_t value = 0;
  for (int i = width - 1; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
  return value;
}

// Every Event in the file at `path`, after checking each record's framing and CRCs.
std::vector<Event> read_events(const std::string& path) {
  const std::string bytes = trainrt::testing::read_file(path);
  std::vector<Event> events;
  size_t at = 0;
  while (at < bytes.size()) {
    EXPECT_LE(at + 12, bytes.size()) << "a record header is cut short";
    const uint64_t length = little_endian(bytes, at, 8);
    EXPECT_EQ(little_endian(bytes, at + 8, 4), masked(bitwise_crc32c(bytes.substr(at, 8)))) << "length CRC";
    const std::string data = bytes.substr(at + 12, length);
    EXPECT_EQ(little_endian(bytes, at + 12 + length, 4), masked(bitwise_crc32c(data))) << "data CRC";
    Event event;
    EXPECT_TRUE(event.ParseFromString(data));
    events.push_back(event);
    at += 12 + length + 4;
  }
  return events;
}

std::string only_event_file(const std::string& dir) {
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind("events.out.tfevents.", 0) == 0) found.push_back(entry.path());
  }
  EXPECT_EQ(found.size(), 1u) << dir;
  return found.empty() ? "" : found.front();
}

TEST(Crc32c, KnownAnswer) { EXPECT_EQ(bitwise_crc32c("123456789"), 0xE3069283u); }

class EventFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!TRAINRT_WITH_TENSORBOARD) GTEST_SKIP() << "built without ISA-L";
  }
  TempDir dir_;
};

TEST_F(EventFiles, FramedRecordsWithAVersionFirstAndScalarsAfter) {
  {
    EventWriter writer(dir_.path());
    writer.add_scalars(1, {{"train/loss", 2.5}, {"train/lr", 0.0}});
    writer.add_scalars(2, {{"train/loss", 1.25}});
  }  // the destructor writes what is queued
  const auto events = read_events(only_event_file(dir_.path()));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].file_version(), kEventFileVersion);
  EXPECT_GT(events[0].wall_time(), 1.7e9);
  EXPECT_EQ(events[1].step(), 1);
  ASSERT_EQ(events[1].summary().value_size(), 2);
  EXPECT_EQ(events[1].summary().value(0).tag(), "train/loss");
  EXPECT_EQ(events[1].summary().value(0).simple_value(), 2.5f);
  // A zero is written (TensorBoard would otherwise see a value without a number).
  EXPECT_TRUE(events[1].summary().value(1).has_simple_value());
  EXPECT_EQ(events[2].step(), 2);
  EXPECT_EQ(events[2].summary().value(0).simple_value(), 1.25f);
}

TEST_F(EventFiles, TrainerWritesTheScalarsOfItsMetricsLines) {
  TempDir data;
  trainrt::testing::write_idx_dataset(data.path(), 320, 100, 8, 8);
  const auto config = trainrt::testing::small_config(data.path(), {"train.epochs=1", "train.log_every_steps=5"});
  trainrt::testing::train(config, dir_ / "run");
  std::map<int64_t, std::map<std::string, float>> scalars;
  for (const auto& event : read_events(only_event_file(dir_ / "run"))) {
    for (const auto& value : event.summary().value()) scalars[event.step()][value.tag()] = value.simple_value();
  }
  const auto train_lines = trainrt::testing::metrics(dir_ / "run", "train");
  ASSERT_EQ(train_lines.size(), 4u);  // steps 5, 10, 15, 20
  for (const auto& line : train_lines) {
    const auto& at = scalars[line["step"].get<int64_t>()];
    EXPECT_EQ(at.at("train/loss"), static_cast<float>(line["loss"].get<double>()));
    EXPECT_EQ(at.at("train/grad_norm"), static_cast<float>(line["grad_norm"].get<double>()));
    EXPECT_GT(at.at("train/grad_norm"), 0);
    // One name everywhere: every value of the metrics line is the event's SPLIT/NAME.
    for (const auto& [name, value] : line.items()) {
      if (name == "split" || name == "step" || name == "epoch" || name == "time") continue;
      ASSERT_TRUE(at.count("train/" + name)) << name;
      EXPECT_EQ(at.at("train/" + name), static_cast<float>(value.get<double>())) << name;
    }
    for (const char* name : {"lr", "samples_per_sec", "step_ms", "data_wait_ms", "compute_ms",
                             "optimizer_ms", "checkpoint_ms"}) {
      EXPECT_TRUE(line.contains(name)) << name;
    }
  }
  const auto eval = trainrt::testing::metrics(dir_ / "run", "eval").back();
  EXPECT_EQ(scalars[20].at("eval/accuracy"), static_cast<float>(eval["accuracy"].get<double>()));
}

TEST_F(EventFiles, TensorBoardsOwnReaderLoadsThem) {
  if (std::system("python3 -c 'import tensorboard' 2>/dev/null") != 0) {
    GTEST_SKIP() << "Python's tensorboard package is not installed (the GPU machine has it)";
  }
  {
    EventWriter writer(dir_.path());
    for (int step = 1; step <= 3; ++step) writer.add_scalars(step, {{"train/loss", 1.0 / step}});
  }
  const std::string script = dir_ / "read.py";
  trainrt::testing::write_file(
      script,
      "import sys\n"
      "from tensorboard.backend.event_processing.event_accumulator import EventAccumulator\n"
      "acc = EventAccumulator(sys.argv[1]); acc.Reload()\n"
      "print(' '.join('%d:%.4f' % (e.step, e.value) for e in acc.Scalars('train/loss')))\n");
  std::FILE* pipe = popen(("python3 " + script + " " + dir_.path() + " 2>&1").c_str(), "r");
  char buffer[4096];
  const std::string printed(buffer, fread(buffer, 1, sizeof(buffer), pipe));
  ASSERT_EQ(pclose(pipe), 0) << printed;
  EXPECT_EQ(printed, "1:1.0000 2:0.5000 3:0.3333\n");
}

}  // namespace
}  // namespace trainrt::obs
