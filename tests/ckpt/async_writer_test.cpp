// The background checkpoint writer: writes while the caller goes on, one write at a time, keeps
// the newest K, and hands a failed write's error to the caller instead of losing it.
#include <atomic>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_util.h"
#include "trainrt/ckpt/async_writer.h"
#include "trainrt/ckpt/catalog.h"

namespace trainrt::ckpt {
namespace {

using ::testing::HasSubstr;
using trainrt::testing::TempDir;
using namespace std::chrono_literals;

CheckpointPayload small_payload(int64_t step) {
  CheckpointPayload p;
  p.step = step;
  p.files = {{"state.bin", "state at " + std::to_string(step)}};
  return p;
}

TEST(AsyncCheckpointWriter, WritesInTheBackgroundOneAtATimeAndKeepsTheNewest) {
  TempDir root;
  AsyncCheckpointWriter writer(root.path(), /*keep_last=*/2);
  std::atomic<bool> release{false};
  // The first write blocks until released: submit returns at once all the same.
  const double first_wait = writer.submit([&] {
    while (!release) std::this_thread::sleep_for(1ms);
    return small_payload(10);
  });
  EXPECT_LT(first_wait, 0.5);
  std::thread releaser([&] {
    std::this_thread::sleep_for(200ms);
    release = true;
  });
  // The second submit waits for the first: at most one write in flight.
  const double second_wait = writer.submit([] { return small_payload(20); });
  EXPECT_GT(second_wait, 0.1);
  releaser.join();
  writer.submit([] { return small_payload(30); });
  writer.wait();
  EXPECT_EQ(writer.take_error(), "");
  EXPECT_EQ(writer.last_committed(), root / "step-00000030");
  EXPECT_EQ(list_checkpoints(root.path()),
            (std::vector<std::string>{root / "step-00000030", root / "step-00000020"}));
}

TEST(AsyncCheckpointWriter, AFailedWriteIsReportedOnceAndTheNextOneRetries) {
  TempDir root;
  AsyncCheckpointWriter writer(root.path(), 0);
  writer.submit([] { return small_payload(10); });
  writer.submit([]() -> CheckpointPayload { throw std::runtime_error("No space left on device"); });
  writer.wait();
  EXPECT_THAT(writer.take_error(), HasSubstr("checkpoint not written: No space left on device"));
  EXPECT_EQ(writer.take_error(), "");  // reported once
  EXPECT_EQ(newest_good_checkpoint(root.path())->manifest.step(), 10);  // the previous one stays
  writer.submit([] { return small_payload(20); });
  writer.wait();
  EXPECT_EQ(newest_good_checkpoint(root.path())->manifest.step(), 20);
}

TEST(AsyncCheckpointWriter, DestructorFinishesTheWriteInFlight) {
  TempDir root;
  {
    AsyncCheckpointWriter writer(root.path(), 0);
    writer.submit([] {
      std::this_thread::sleep_for(100ms);
      return small_payload(7);
    });
  }
  ASSERT_TRUE(newest_good_checkpoint(root.path()));
  EXPECT_EQ(newest_good_checkpoint(root.path())->manifest.step(), 7);
}

}  // namespace
}  // namespace trainrt::ckpt
