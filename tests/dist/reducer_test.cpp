// The bucketed gradient reducer over real Gloo process groups (ranks as threads): it averages
// gradients across ranks, launches buckets during the backward pass, accumulates micro-batches,
// and copes with parameters a rank did not use.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "dist/dist_test_util.h"
#include "test_util.h"
#include "trainrt/dist/reducer.h"

namespace trainrt::dist {
namespace {

using ::testing::HasSubstr;
using trainrt::testing::error_of;
using trainrt::testing::run_ranks;
using CommunicatorPtr = std::shared_ptr<Communicator>;

// A small network whose parameters span several buckets at the limits below.
struct Net : torch::nn::Module {
  Net() {
    a = register_module("a", torch::nn::Linear(16, 64));
    b = register_module("b", torch::nn::Linear(64, 64));
    head = register_module("head", torch::nn::Linear(64, 4));
    spare = register_module("spare", torch::nn::Linear(64, 4));  // used only when asked
  }
  torch::Tensor forward(const torch::Tensor& x, bool use_spare) {
    auto h = torch::tanh(b(torch::tanh(a(x))));
    auto y = head(h);
    return use_spare ? y + spare(h) : y;
  }
  torch::nn::Linear a{nullptr}, b{nullptr}, head{nullptr}, spare{nullptr};
};

// Identical weights on every rank without the global RNG (shared by the rank threads).
std::shared_ptr<Net> make_net() {
  auto net = std::make_shared<Net>();
  torch::NoGradGuard no_grad;
  double phase = 0;
  for (auto& p : net->parameters()) {
    p.copy_(torch::sin(torch::arange(static_cast<double>(p.numel())) * 0.37 + phase).view_as(p) * 0.2);
    phase += 1;
  }
  return net;
}

// Rank- and micro-batch-specific inputs and targets.
torch::Tensor input(int rank, int micro) {
  return torch::cos(torch::arange(8.0 * 16).view({8, 16}) * (0.1 + 0.05 * rank) + micro);
}
torch::Tensor target(int rank, int micro) {
  return torch::sin(torch::arange(8.0 * 4).view({8, 4}) + rank + 3 * micro);
}

torch::Tensor loss_of(Net& net, int rank, int micro, bool use_spare) {
  return torch::mse_loss(net.forward(input(rank, micro), use_spare), target(rank, micro));
}

// The gradient one process computes for `rank`'s data over `micros` micro-batches (losses summed).
std::vector<torch::Tensor> local_gradients(int rank, int micros, bool use_spare) {
  auto net = make_net();
  for (int m = 0; m < micros; ++m) loss_of(*net, rank, m, use_spare).backward();
  std::vector<torch::Tensor> grads;
  for (auto& p : net->parameters()) {
    grads.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
  }
  return grads;
}

// The mean over ranks of each rank's local gradients.
std::vector<torch::Tensor> expected_mean(int world_size, int micros,
                                         const std::function<bool(int)>& uses_spare) {
  std::vector<torch::Tensor> mean;
  for (int r = 0; r < world_size; ++r) {
    auto grads = local_gradients(r, micros, uses_spare(r));
    if (mean.empty()) mean.assign(grads.size(), torch::Tensor());
    for (size_t i = 0; i < grads.size(); ++i) {
      mean[i] = mean[i].defined() ? mean[i] + grads[i] : grads[i];
    }
  }
  for (auto& g : mean) g /= world_size;
  return mean;
}

ReducerOptions small_buckets(torch::Dtype wire = torch::kFloat32) {
  ReducerOptions options;
  options.limits.first_bucket_bytes = 1024;
  options.limits.bucket_bytes = 8 * 1024;
  options.wire_dtype = wire;
  return options;
}

class Reducer : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!TRAINRT_WITH_GLOO) GTEST_SKIP() << "built without the Gloo backend";
  }
};

void expect_gradients(Net& net, const std::vector<torch::Tensor>& expected, double rtol,
                      double atol) {
  const auto params = net.parameters();
  ASSERT_EQ(params.size(), expected.size());
  for (size_t i = 0; i < params.size(); ++i) {
    ASSERT_TRUE(params[i].grad().defined()) << "parameter " << i;
    EXPECT_TRUE(torch::allclose(params[i].grad(), expected[i], rtol, atol))
        << "parameter " << i << " max diff "
        << (params[i].grad() - expected[i]).abs().max().item<double>();
  }
}

TEST_F(Reducer, AveragesGradientsAcrossRanksAndStartsBucketsDuringBackward) {
  for (int world_size : {2, 3}) {
    const auto expected = expected_mean(world_size, 1, [](int) { return true; });
    run_ranks(world_size, [&](int rank, const CommunicatorPtr& comm) {
      auto net = make_net();
      GradientReducer reducer(net->parameters(), comm, small_buckets());
      std::vector<size_t> bytes;
      for (const auto& p : net->parameters()) bytes.push_back(static_cast<size_t>(p.numel()) * 4);
      EXPECT_EQ(reducer.buckets(), assign_buckets(bytes, small_buckets().limits));
      ASSERT_GE(reducer.buckets().size(), 3u);
      for (int step = 0; step < 2; ++step) {  // the reducer resets between steps
        net->zero_grad();
        reducer.prepare_for_backward(true);
        loss_of(*net, rank, 0, true).backward();
        const ReduceStats stats = reducer.finish();
        expect_gradients(*net, expected, 1e-5, 1e-7);
        EXPECT_EQ(stats.buckets, static_cast<int>(reducer.buckets().size()));
        // Every gradient is final before backward() returns, so every bucket was launched from
        // the backward pass's hooks, not by finish().
        EXPECT_EQ(stats.launched_during_backward, stats.buckets);
        EXPECT_EQ(stats.bytes, 4 * (16 * 64 + 64 + 64 * 64 + 64 + 2 * (64 * 4 + 4)));
        EXPECT_GE(stats.communication_ms, stats.exposed_ms);
      }
    });
  }
}

TEST_F(Reducer, AccumulatesMicroBatchesAndCommunicatesOnlyOnTheLast) {
  const auto expected = expected_mean(2, 3, [](int) { return true; });
  run_ranks(2, [&](int rank, const CommunicatorPtr& comm) {
    auto net = make_net();
    GradientReducer reducer(net->parameters(), comm, small_buckets());
    for (int micro = 0; micro < 3; ++micro) {
      reducer.prepare_for_backward(/*communicate=*/micro == 2);
      loss_of(*net, rank, micro, true).backward();
    }
    reducer.finish();
    expect_gradients(*net, expected, 1e-5, 1e-7);
  });
}

TEST_F(Reducer, ParameterUnusedOnOneRankCountsAsZeroThereAndDoesNotHang) {
  auto uses_spare = [](int rank) { return rank == 0; };
  const auto expected = expected_mean(2, 1, uses_spare);
  run_ranks(2, [&](int rank, const CommunicatorPtr& comm) {
    auto net = make_net();
    GradientReducer reducer(net->parameters(), comm, small_buckets());
    reducer.prepare_for_backward(true);
    loss_of(*net, rank, 0, uses_spare(rank)).backward();
    const ReduceStats stats = reducer.finish();
    expect_gradients(*net, expected, 1e-5, 1e-7);
    if (rank == 1) EXPECT_LT(stats.launched_during_backward, stats.buckets);
  });
}

TEST_F(Reducer, GradientsLiveInTheBucketBuffersAndSurviveTheOptimizersZeroGrad) {
  const auto expected = expected_mean(2, 1, [](int) { return true; });
  run_ranks(2, [&](int rank, const CommunicatorPtr& comm) {
    auto net = make_net();
    GradientReducer reducer(net->parameters(), comm, small_buckets());
    torch::optim::SGD optimizer(net->parameters(), torch::optim::SGDOptions(0.0));  // lr 0: same weights
    for (int step = 0; step < 3; ++step) {
      optimizer.zero_grad();
      reducer.prepare_for_backward(true);
      loss_of(*net, rank, 0, true).backward();
      reducer.finish();
      expect_gradients(*net, expected, 1e-5, 1e-7);
      optimizer.step();
    }
    // Parameters of one bucket have gradients in one storage: the bucket's buffer.
    const auto params = net->parameters();
    for (const auto& bucket : reducer.buckets()) {
      for (size_t p : bucket) {
        EXPECT_TRUE(params[p].grad().storage().is_alias_of(params[bucket.front()].grad().storage()));
      }
    }
  });
}

TEST_F(Reducer, HalfPrecisionOnTheWireStaysCloseToFloat32) {
  const auto expected = expected_mean(2, 1, [](int) { return true; });
  run_ranks(2, [&](int rank, const CommunicatorPtr& comm) {
    auto net = make_net();
    GradientReducer reducer(net->parameters(), comm, small_buckets(torch::kFloat16));
    reducer.prepare_for_backward(true);
    loss_of(*net, rank, 0, true).backward();
    const ReduceStats stats = reducer.finish();
    expect_gradients(*net, expected, 2e-3, 1e-4);
    EXPECT_EQ(stats.bytes, 2 * (16 * 64 + 64 + 64 * 64 + 64 + 2 * (64 * 4 + 4)));
    EXPECT_EQ(net->parameters()[0].grad().scalar_type(), torch::kFloat32);
  });
}

TEST_F(Reducer, MisuseIsReportedNotSilentlyWrong) {
  run_ranks(2, [&](int, const CommunicatorPtr& comm) {
    auto net = make_net();
    EXPECT_THAT(error_of([&] { GradientReducer(net->parameters(), comm, small_buckets(torch::kBFloat16)); }),
                HasSubstr("distributed.grad_dtype: the gloo backend cannot sum BFloat16 gradients"));
    GradientReducer reducer(net->parameters(), comm, small_buckets());
    reducer.prepare_for_backward(false);
    loss_of(*net, 0, 0, true).backward();
    EXPECT_THAT(error_of([&] { reducer.finish(); }), HasSubstr("not prepared with communicate"));
  });
}

}  // namespace
}  // namespace trainrt::dist
