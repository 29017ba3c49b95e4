// Learning-rate schedules and the optimizer factory.
#include <gtest/gtest.h>

#include <cmath>

#include "trainrt/core/error.h"
#include "trainrt/optim/optimizer.h"
#include "trainrt/optim/schedule.h"

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

}  // namespace
}  // namespace trainrt::optim
