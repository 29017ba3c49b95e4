// torchrun's error-file contract from both sides: what a failing worker writes is what the
// launcher reads back, PyTorch's own nested form included, and nothing readable means no cause.
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

}  // namespace
}  // namespace trainrt::dist
