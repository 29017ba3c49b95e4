// What watches the collectives: the watchdog fires for a collective that never completes (and
// only then), the heartbeat names the rank that stopped.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "dist/dist_test_util.h"
#include "trainrt/dist/heartbeat.h"
#include "trainrt/dist/watchdog.h"

namespace trainrt::dist {
namespace {

using ::testing::HasSubstr;
using trainrt::testing::free_port;
using trainrt::testing::host_loopback_store;
using trainrt::testing::loopback_store_client;
using namespace std::chrono_literals;

class Fired {
 public:
  void operator()(const std::string& message) {
    std::lock_guard<std::mutex> lock(mutex_);
    messages_.push_back(message);
  }
  std::vector<std::string> messages() {
    std::lock_guard<std::mutex> lock(mutex_);
    return messages_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> messages_;
};

TEST(Watchdog, FiresOnceForACollectiveThatNeverCompletes) {
  auto fired = std::make_shared<Fired>();
  Watchdog watchdog(200ms, [fired](const std::string& m) { (*fired)(m); });
  watchdog.done(watchdog.track("rank 0: barrier (gloo)"));  // completed at once
  watchdog.track("rank 1: all_reduce (nccl)");             // never completes
  std::this_thread::sleep_for(600ms);
  const auto messages = fired->messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_THAT(messages[0], HasSubstr("rank 1: all_reduce (nccl) has not completed after 0."));
  EXPECT_THAT(messages[0], HasSubstr("watchdog deadline 0.2 s"));
}

TEST(Watchdog, QuietWhileCollectivesCompleteInTime) {
  auto fired = std::make_shared<Fired>();
  Watchdog watchdog(200ms, [fired](const std::string& m) { (*fired)(m); });
  for (int i = 0; i < 10; ++i) {
    const auto id = watchdog.track("rank 0: all_reduce (gloo)");
    std::this_thread::sleep_for(50ms);
    watchdog.done(id);
  }
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(fired->messages().empty());
}

TEST(Heartbeat, NamesTheRankThatStoppedAndNoneWhileAllBeat) {
  const int port = free_port();
  auto server = host_loopback_store(port);
  Heartbeat rank0(loopback_store_client(port), 0, 3, 50ms);
  auto rank1 = std::make_unique<Heartbeat>(loopback_store_client(port), 1, 3, 50ms);
  Heartbeat rank2(loopback_store_client(port), 2, 3, 50ms);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(rank0.diagnose(), "");
  rank1.reset();  // rank 1 is gone
  EXPECT_THAT(rank0.diagnose(), HasSubstr("lost rank 1 (no heartbeat for"));
  EXPECT_THAT(rank2.diagnose(), HasSubstr("lost rank 1 (no heartbeat for"));
}

TEST(Heartbeat, SaysWhenTheStoreItselfIsGone) {
  const int port = free_port();
  auto server = host_loopback_store(port);
  Heartbeat rank1(loopback_store_client(port), 1, 2, 50ms);
  server.reset();  // rank 0, which hosted the store, is gone
  EXPECT_THAT(rank1.diagnose(), HasSubstr("the rendezvous store no longer answers"));
}

}  // namespace
}  // namespace trainrt::dist
