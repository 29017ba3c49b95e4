// torchrun's error-file contract from both sides: what a failing worker writes is what the
// launcher reads back, PyTorch's own nested form included, and nothing readable means no cause.
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "trainrt/dist/error_file.h"

namespace trainrt::dist {
namespace {

using trainrt::testing::TempDir;
using trainrt::testing::read_file;
using trainrt::testing::write_file;

TEST(ErrorFile, TheLauncherReadsTheMessageAWorkerWrote) {
  TempDir dir;
  write_error_file(dir / "rank_0.json", "rank 3 ran out of memory at step 12");
  const auto report = nlohmann::json::parse(read_file(dir / "rank_0.json"));
  EXPECT_TRUE(report["timestamp"].is_number_integer());  // torchrun's ProcessFailure reads both
  EXPECT_EQ(read_error_message(dir / "rank_0.json"), "rank 3 ran out of memory at step 12");
}

TEST(ErrorFile, PyTorchWorkersNestTheMessage) {
  TempDir dir;
  write_file(dir / "e.json", R"({"message": {"message": "RuntimeError: boom", "extraInfo": {}}})");
  EXPECT_EQ(read_error_message(dir / "e.json"), "RuntimeError: boom");
}

TEST(ErrorFile, NoFileOrNoMessageIsNoCause) {
  TempDir dir;
  EXPECT_EQ(read_error_message(dir / "missing.json"), "");
  write_file(dir / "torn.json", R"({"message": "cut o)");
  EXPECT_EQ(read_error_message(dir / "torn.json"), "");
  write_file(dir / "other.json", R"({"timestamp": 1})");
  EXPECT_EQ(read_error_message(dir / "other.json"), "");
  write_error_file("", "no path: nothing is written and nothing throws");
}

TEST(ErrorFile, ASymlinkPlantedAtThePathIsNotFollowed) {
  // Someone who can write where the error file goes plants a link to a file of the victim's.
  TempDir dir;
  write_file(dir / "victim.txt", "precious");
  std::filesystem::create_symlink(dir / "victim.txt", dir / "rank_0.json");
  write_error_file(dir / "rank_0.json", "rank 0 failed");
  EXPECT_EQ(read_file(dir / "victim.txt"), "precious");  // not overwritten through the link
  // Nor does the launcher read (and print) what a link points to.
  write_file(dir / "secret.json", R"({"message": "the victim's secret"})");
  std::filesystem::create_symlink(dir / "secret.json", dir / "rank_1.json");
  EXPECT_EQ(read_error_message(dir / "rank_1.json"), "");
}

TEST(ErrorFile, ARewrittenReportReplacesTheFirst) {
  // A worker may report twice (its watchdog, then its main thread); a user's fixed path may hold
  // an earlier run's report: either way the newest is what the launcher reads.
  TempDir dir;
  write_error_file(dir / "e.json", "a much longer first message that must not leave a tail");
  write_error_file(dir / "e.json", "second");
  EXPECT_EQ(read_error_message(dir / "e.json"), "second");
}

}  // namespace
}  // namespace trainrt::dist
