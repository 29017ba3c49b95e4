// The communicator, rendezvous and replica broadcast over real TCP stores and Gloo process groups
// (ranks as threads on loopback; see dist_test_util.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "dist/dist_test_util.h"
#include "test_util.h"
#include "trainrt/dist/rendezvous.h"
#include "trainrt/dist/replicas.h"

namespace trainrt::dist {
namespace {

using ::testing::HasSubstr;
using trainrt::testing::error_of;
using trainrt::testing::free_port;
using trainrt::testing::gloo_config;
using trainrt::testing::local_identity;
using trainrt::testing::run_ranks;
using CommunicatorPtr = std::shared_ptr<Communicator>;

class Collectives : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!TRAINRT_WITH_GLOO) GTEST_SKIP() << "built without the Gloo backend";
  }
};

TEST_F(Collectives, AllReduceSumsMaxesAndAveragesInHalfPrecision) {
  run_ranks(3, [](int rank, const CommunicatorPtr& comm) {
    EXPECT_EQ(comm->world_size(), 3);
    EXPECT_EQ(comm->rank(), rank);
    EXPECT_EQ(comm->backend(), "gloo");
    auto sum = torch::full({5}, rank + 1.0);
    auto max = torch::tensor({rank * 1.0, -rank * 1.0});
    auto half = torch::full({4}, 0.5 * (rank + 1), torch::kFloat16);
    // Three collectives in flight at once, waited on in another order.
    auto w1 = comm->all_reduce(sum);
    auto w2 = comm->all_reduce(max, ReduceOp::kMax);
    auto w3 = comm->all_reduce(half);
    w3->wait();
    w1->wait();
    w2->wait();
    EXPECT_TRUE(torch::equal(sum, torch::full({5}, 6.0)));
    EXPECT_TRUE(torch::equal(max, torch::tensor({2.0, 0.0})));
    EXPECT_TRUE(torch::equal(half, torch::full({4}, 3.0, torch::kFloat16)));
    EXPECT_TRUE(comm->supports_dtype(torch::kFloat16));
    EXPECT_FALSE(comm->supports_dtype(torch::kBFloat16));  // LibTorch 1.13's Gloo
  });
}

TEST_F(Collectives, BroadcastAllGatherReduceScatterAndBarrier) {
  run_ranks(2, [](int rank, const CommunicatorPtr& comm) {
    auto value = torch::full({3}, rank == 1 ? 7.0 : -1.0);
    comm->broadcast(value, /*root=*/1)->wait();
    EXPECT_TRUE(torch::equal(value, torch::full({3}, 7.0)));

    auto gathered = torch::zeros({2, 2});
    comm->all_gather(gathered, torch::full({2}, rank + 10.0))->wait();
    EXPECT_TRUE(torch::equal(gathered, torch::tensor({{10.0, 10.0}, {11.0, 11.0}})));

    // input on rank r: [r, r+1, r+2, r+3]; sum [1, 3, 5, 7]; rank 0 keeps [1, 3], rank 1 [5, 7].
    auto input = torch::arange(4.0) + rank;
    auto output = torch::zeros({2});
    auto work = comm->reduce_scatter(output, input);
    work->wait();
    EXPECT_TRUE(torch::equal(output, rank == 0 ? torch::tensor({1.0, 3.0}) : torch::tensor({5.0, 7.0})));
    comm->barrier()->wait();
  });
}

TEST_F(Collectives, CompletionCallbackRuns) {
  run_ranks(2, [](int, const CommunicatorPtr& comm) {
    std::atomic<int> calls{0};
    auto work = comm->all_reduce(torch::ones({1000}));
    work->on_completion([&] { ++calls; });
    work->wait();
    EXPECT_TRUE(work->completed());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (calls == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    EXPECT_EQ(calls, 1);
  });
}

TEST_F(Collectives, LostPeerFailsTheCollectiveWithAnErrorNamingTheRankAndOperation) {
  std::string error;
  run_ranks(2, [&](int rank, const CommunicatorPtr& comm) {
    comm->barrier()->wait();
    if (rank == 1) return;  // rank 1 leaves; its process group closes its connections
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    error = error_of([&] { comm->all_reduce(torch::ones({4}))->wait(); });
  }, gloo_config(/*timeout_seconds=*/5));
  EXPECT_THAT(error, HasSubstr("rank 0: collective #1 all_reduce (gloo) failed"));
  EXPECT_THAT(error, HasSubstr("lost rank 1 (no heartbeat for"));
}

TEST_F(Collectives, RendezvousTimesOutNamingTheRanksThatDidNotArrive) {
  const int port = free_port();
  std::string errors[2];
  std::vector<std::thread> threads;
  for (int rank = 0; rank < 2; ++rank) {  // ranks 2 and 3 of 4 never start
    threads.emplace_back([&, rank] {
      errors[rank] = error_of([&] {
        // Rank 0 hosts the store and waits longer, so that rank 1 times out while it is up.
        rendezvous(local_identity(rank, 4, port), std::chrono::milliseconds(rank == 0 ? 2500 : 1500));
      });
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_THAT(errors[1], HasSubstr("rank 1: rendezvous timed out after 1.5 s: ranks 2, 3 of 4 did not arrive"));
  EXPECT_THAT(errors[0], HasSubstr("rank 0: rendezvous timed out after 2.5 s: ranks 2, 3 of 4 did not arrive"));
}

TEST_F(Collectives, RankWaitingWhenTheStoreHostExitsFailsSayingSo) {
  const int port = free_port();
  std::string error;
  std::thread rank1([&] {
    error = error_of([&] { rendezvous(local_identity(1, 3, port), std::chrono::seconds(10)); });
  });
  // Rank 0 hosts the store, gives up after 1.5 s (rank 2 never comes) and exits, taking it along.
  error_of([&] { rendezvous(local_identity(0, 3, port), std::chrono::milliseconds(1500)); });
  rank1.join();
  EXPECT_THAT(error, HasSubstr("rank 1: lost the rendezvous store at 127.0.0.1"));
}

TEST_F(Collectives, ClientWithoutAStoreFailsNamingTheAddress) {
  const int port = free_port();
  const auto started = std::chrono::steady_clock::now();
  const std::string error =
      error_of([&] { rendezvous(local_identity(1, 2, port), std::chrono::milliseconds(1000)); });
  EXPECT_THAT(error, HasSubstr(fmt::format("rank 1: cannot reach the rendezvous store at 127.0.0.1:{}", port)));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30));
}

TEST_F(Collectives, RestartedGroupDoesNotCountTheEarlierAttemptsArrivals) {
  // A launcher hosts the store across restarts (TORCHELASTIC_USE_AGENT_STORE).
  const int port = free_port();
  const auto launcher_store = trainrt::testing::host_loopback_store(port);
  auto identity = [&](int rank, int restart) {
    auto id = local_identity(rank, 2, port);
    id.launcher_hosts_store = true;
    id.restart_count = restart;
    return id;
  };
  std::thread other([&] { rendezvous(identity(1, 0), std::chrono::seconds(10)); });
  rendezvous(identity(0, 0), std::chrono::seconds(10));
  other.join();
  // Attempt 1: only rank 0 comes back; rank 1's arrival in attempt 0 must not count.
  const std::string error =
      error_of([&] { rendezvous(identity(0, 1), std::chrono::milliseconds(1500)); });
  EXPECT_THAT(error, HasSubstr("rank 1 of 2 did not arrive"));
}

// Fills every parameter and buffer with values that depend on `rank` (the global RNG is shared by
// the rank threads, so it cannot tell them apart).
void fill_for_rank(torch::nn::Module& module, int rank) {
  torch::NoGradGuard no_grad;
  double base = 0;
  for (auto& tensor : module.parameters()) {
    tensor.copy_(torch::arange(static_cast<double>(tensor.numel())).view_as(tensor) * 0.01 + base + rank);
    base += 1;
  }
  for (auto& tensor : module.buffers()) tensor.fill_(base++ + 10 * rank);
}

TEST_F(Collectives, ReplicasStartFromRankZerosParametersAndBuffers) {
  auto make_model = [] {
    return torch::nn::Sequential(torch::nn::Linear(4, 8), torch::nn::BatchNorm1d(8),
                                 torch::nn::Linear(8, 2));
  };
  run_ranks(2, [&](int rank, const CommunicatorPtr& comm) {
    auto model = make_model();
    fill_for_rank(*model, rank);
    broadcast_module_state(*model, *comm);
    auto reference = make_model();
    fill_for_rank(*reference, 0);
    const auto got = model->named_parameters(), want = reference->named_parameters();
    for (const auto& item : want) EXPECT_TRUE(torch::equal(got[item.key()], item.value())) << item.key();
    const auto got_buffers = model->named_buffers(), want_buffers = reference->named_buffers();
    ASSERT_EQ(want_buffers.size(), 3u);  // running mean, variance and the batch count
    for (const auto& item : want_buffers) {
      EXPECT_TRUE(torch::equal(got_buffers[item.key()], item.value())) << item.key();
    }
  });
}

TEST(DistConnect, UnknownOrUnbuiltBackendIsAConfigError) {
  auto config = gloo_config();
  config.set_backend("nccl");
  const std::string error = error_of([&] { connect(local_identity(0, 2, free_port()), config, false); });
  EXPECT_THAT(error, HasSubstr("distributed.backend: nccl"));
}

TEST(DistConnect, ReducerOptionsFollowTheConfig) {
  config::DistributedConfig config;
  config.set_bucket_mb(2);
  config.set_first_bucket_mb(0.5);
  config.set_grad_dtype("float16");
  const auto options = reducer_options(config);
  EXPECT_EQ(options.limits.bucket_bytes, size_t{2} << 20);
  EXPECT_EQ(options.limits.first_bucket_bytes, size_t{1} << 19);
  EXPECT_EQ(options.wire_dtype, torch::kFloat16);
  EXPECT_EQ(collective_timeout(gloo_config(2.5)), std::chrono::milliseconds(2500));
}

}  // namespace
}  // namespace trainrt::dist
