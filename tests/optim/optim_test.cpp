// Learning-rate schedules and the optimizer factory.
#include <gtest/gtest.h>

#include <cmath>

#include "trainrt/ckpt/state_dict.h"
#include "trainrt/core/error.h"
#include "trainrt/optim/multi_tensor_sgd.h"
#include "trainrt/optim/optimizer.h"
#include "trainrt/optim/schedule.h"
#include "trainrt/optim/state.h"

namespace trainrt::optim {
namespace {

config::ScheduleConfig schedule(const std::string& name, int64_t warmup) {
  config::ScheduleConfig s;
  s.set_name(name);
  s.set_warmup_steps(warmup);
  return s;
}

TEST(Schedule, WarmupRisesLinearlyToThePeak) {
  const auto s = schedule("constant", 4);
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 1.0, 0, 100), 0.25);
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 1.0, 3, 100), 1.0);
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 1.0, 50, 100), 1.0);
}

TEST(Schedule, CosineFallsFromPeakToFloor) {
  auto s = schedule("cosine", 10);
  s.set_min_lr_ratio(0.1);
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 2.0, 10, 110), 2.0);
  EXPECT_NEAR(learning_rate_at(s, 2.0, 60, 110), 0.2 + 1.8 * 0.5, 1e-12);  // halfway
  EXPECT_NEAR(learning_rate_at(s, 2.0, 110, 110), 0.2, 1e-12);
  for (int64_t step = 11; step < 110; ++step) {
    EXPECT_LT(learning_rate_at(s, 2.0, step, 110), learning_rate_at(s, 2.0, step - 1, 110));
  }
}

TEST(Schedule, StepDecaysByGammaEveryStepSize) {
  auto s = schedule("step", 0);
  s.set_step_size(10);
  s.set_gamma(0.5);
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 1.0, 9, 100), 1.0);
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 1.0, 10, 100), 0.5);
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 1.0, 25, 100), 0.25);
}

TEST(Optimizer, SgdWithNesterovMatchesItsClosedForm) {
  config::OptimizerConfig c;
  c.set_name("sgd");
  c.set_lr(0.1);
  c.set_momentum(0.9);
  c.set_nesterov(true);
  auto w = torch::tensor({1.0}, torch::requires_grad());
  auto optimizer = make_optimizer(c, {w});
  // Loss w^2: gradient 2w. Step 1: buf = g, w -= lr * (g + 0.9 * buf).
  (w * w).sum().backward();
  optimizer->step();
  const double g = 2.0;
  EXPECT_NEAR(w.item<double>(), 1.0 - 0.1 * (g + 0.9 * g), 1e-7);
}

TEST(Optimizer, MultiTensorSgdStepsBitForBitLikeLibTorchsSgd) {
  // Momentum, dampening, Nesterov and weight decay, a parameter without a gradient, and a learning
  // rate changed between steps: every branch of the update.
  for (const bool nesterov : {false, true}) {
    torch::manual_seed(3);
    std::vector<torch::Tensor> reference{torch::randn({5, 4}), torch::randn({7}), torch::randn({3})};
    std::vector<torch::Tensor> ours;
    for (auto& p : reference) {
      p.requires_grad_(true);
      ours.push_back(p.detach().clone().requires_grad_(true));
    }
    auto options = torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(0.01).nesterov(nesterov)
                       .dampening(nesterov ? 0.0 : 0.1);
    torch::optim::SGD plain(reference, options);
    MultiTensorSGD multi(ours, options);
    for (int step = 0; step < 5; ++step) {
      for (auto* params : {&reference, &ours}) {
        for (size_t i = 0; i + 1 < params->size(); ++i) {  // the last one never gets a gradient
          (*params)[i].mutable_grad() = torch::sin((*params)[i].detach() * (step + 1));
        }
      }
      set_learning_rate(plain, 0.1 / (step + 1));
      set_learning_rate(multi, 0.1 / (step + 1));
      plain.step();
      multi.step();
      for (size_t i = 0; i < reference.size(); ++i) {
        ASSERT_TRUE(torch::equal(reference[i], ours[i])) << "step " << step << " parameter " << i;
      }
    }
  }
}

TEST(Optimizer, AdamWAndLearningRateChanges) {
  config::OptimizerConfig c;
  c.set_name("adamw");
  c.set_lr(0.01);
  c.set_weight_decay(0.0);
  auto w = torch::tensor({1.0}, torch::requires_grad());
  auto optimizer = make_optimizer(c, {w});
  set_learning_rate(*optimizer, 0.5);
  (w * 3).sum().backward();
  optimizer->step();
  // Adam's first step moves each weight by lr (times sign of the gradient).
  EXPECT_NEAR(w.item<double>(), 0.5, 1e-6);
  c.set_name("lbfgs");
  EXPECT_THROW(make_optimizer(c, {w}), Error);
}

// Three steps of `optimizer` on parameters `w` with a fixed quadratic loss.
void take_steps(torch::optim::Optimizer& optimizer, const torch::Tensor& w, int steps) {
  for (int i = 0; i < steps; ++i) {
    optimizer.zero_grad();
    (w * w * torch::arange(1, w.numel() + 1, torch::kFloat32)).sum().backward();
    optimizer.step();
  }
}

class OptimizerState : public ::testing::TestWithParam<std::string> {};

TEST_P(OptimizerState, RestoredOptimizerTakesTheSameStepsBitForBit) {
  config::OptimizerConfig config;
  config.set_name(GetParam());
  config.set_lr(0.1);
  const std::vector<std::string> names{"w"};
  torch::Tensor w = torch::linspace(-1, 1, 6).requires_grad_();
  auto original = make_optimizer(config, {w});
  take_steps(*original, w, 3);
  const auto saved = optimizer_state(*original, names);
  ASSERT_FALSE(saved.empty());
  const std::string bytes = ckpt::tensor_dict_bytes(saved);
  const torch::Tensor w_saved = w.detach().clone();
  take_steps(*original, w, 2);  // the saved copies must not follow these steps

  torch::Tensor w2 = w_saved.clone().requires_grad_();
  auto restored = make_optimizer(config, {w2});
  load_optimizer_state(*restored, names, ckpt::read_tensor_dict(bytes, "test"), "test");
  take_steps(*restored, w2, 2);
  EXPECT_TRUE(torch::equal(w.detach(), w2.detach()));
}

INSTANTIATE_TEST_SUITE_P(SgdAndAdamW, OptimizerState, ::testing::Values("sgd", "adamw"));

TEST(OptimizerStateErrors, NamesAnEntryOfAnotherShapeOrOptimizer) {
  config::OptimizerConfig sgd;
  torch::Tensor w = torch::zeros({3}).requires_grad_();
  auto optimizer = make_optimizer(sgd, {w});
  auto expect_error = [&](std::map<std::string, torch::Tensor> state, const std::string& wanted) {
    try {
      load_optimizer_state(*optimizer, {"w"}, state, "ckpt/optimizer.pt");
      FAIL() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(wanted), std::string::npos) << e.what();
    }
  };
  expect_error({{"w.momentum_buffer", torch::zeros({4})}},
               "ckpt/optimizer.pt: 'w.momentum_buffer' has shape [4], the parameter's is [3]");
  expect_error({{"w.exp_avg", torch::zeros({3})}},
               "ckpt/optimizer.pt: 'w.exp_avg' is not state of this sgd optimizer's parameters");
}

// A state handed over (a replica's, received for this process alone) is kept as it is; any
// other is copied, so that the optimizer's steps never write into the caller's tensors.
TEST(OptimizerStateHandover, KeepsTheGivenTensorsOnlyWhenTold) {
  config::OptimizerConfig sgd;
  sgd.set_momentum(0.9);
  torch::Tensor w = torch::zeros({3}).requires_grad_();
  auto optimizer = make_optimizer(sgd, {w});
  const torch::Tensor given = torch::ones({3});
  auto kept = [&] {
    const auto state = optimizer_state(*optimizer, {"w"}, /*copy=*/false);
    return state.at(0).second.data_ptr() == given.data_ptr();
  };
  load_optimizer_state(*optimizer, {"w"}, {{"w.momentum_buffer", given}}, "copied");
  EXPECT_FALSE(kept());
  load_optimizer_state(*optimizer, {"w"}, {{"w.momentum_buffer", given}}, "handed over", /*copy=*/false);
  EXPECT_TRUE(kept());
}

}  // namespace
}  // namespace trainrt::optim
