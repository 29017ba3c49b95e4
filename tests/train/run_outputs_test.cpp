// A run's reports on a disk that refuses them: a metrics.jsonl line (or TensorBoard event) that
// cannot be written is reported once, naming the file and the error, and training goes on; the
// file keeps whole lines only. (The same on a real full tmpfs, with checkpoints going on:
// tests/integration/fault_injection_test.cpp.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "test_util.h"
#include "train/train_test_util.h"
#include "trainrt/train/run_outputs.h"

namespace trainrt::train {
namespace {

using ::testing::HasSubstr;
using trainrt::testing::TempDir;

// Everything written to `file` so far.
std::string contents_of(std::FILE* file) {
  std::fflush(file);
  std::rewind(file);
  std::string text;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, file)) > 0;) text.append(buffer, n);
  return text;
}

int occurrences(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(RunOutputs, AMetricsLineThatCannotBeWrittenIsReportedOnceAndTrainingGoesOn) {
  TempDir dir;
  std::filesystem::create_directories(dir / "run");
  std::filesystem::create_symlink("/dev/full", dir / "run/metrics.jsonl");  // every write: ENOSPC
  std::FILE* display = std::tmpfile();
  ASSERT_NE(display, nullptr);
  RunOutputs::Options options;
  options.run_dir = dir / "run";
  options.progress_out = display;
  std::vector<std::string> notes;
  RunOutputs outputs(testing::small_config(dir.path(), {"observe.tensorboard=false"}), options, notes);
  for (int64_t step = 1; step <= 3; ++step) {
    EXPECT_NO_THROW(outputs.write("train", step, 0, {{"loss", 0.5}})) << "step " << step;
  }
  const std::string shown = contents_of(display);
  std::fclose(display);
  EXPECT_EQ(occurrences(shown, "cannot write to '" + (dir / "run/metrics.jsonl") + "': No space left on device"), 1)
      << shown;
  EXPECT_THAT(shown, HasSubstr("training goes on"));
}

}  // namespace
}  // namespace trainrt::train
