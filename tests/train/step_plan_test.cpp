// The step arithmetic (train/step_plan.h), the non-finite policy and the stop agreement's
// single-process answers: pure decisions, pinned without a model.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "trainrt/core/error.h"
#include "trainrt/train/nonfinite_policy.h"
#include "trainrt/train/step_plan.h"
#include "trainrt/train/stop_agreement.h"

namespace trainrt::train {
namespace {

using ::testing::HasSubstr;

StepPlanInput fashion_mnist() {
  StepPlanInput in;
  in.train_samples = 60000;
  in.batch_size = 128;
  in.epochs = 10;
  return in;
}

TEST(StepPlan, WholeEpochsDropTheLastPartialBatch) {
  const StepPlan plan = plan_steps(fashion_mnist());
  EXPECT_EQ(plan.steps_per_epoch, 468);  // 60000 / 128 = 468.75
  EXPECT_EQ(plan.total_steps, 4680);
}

TEST(StepPlan, RanksAndAccumulationShareTheGlobalBatch) {
  StepPlanInput in = fashion_mnist();
  in.world_size = 2;
  in.accumulation = 3;
  // A global micro-batch is 256 samples: 234 per epoch, 78 optimizer steps of 3.
  const StepPlan plan = plan_steps(in);
  EXPECT_EQ(plan.steps_per_epoch, 78);
  EXPECT_EQ(plan.total_steps, 780);
}

TEST(StepPlan, MaxStepsCaps) {
  StepPlanInput in = fashion_mnist();
  in.max_steps = 300;
  EXPECT_EQ(plan_steps(in).total_steps, 300);
}

TEST(StepPlan, AResumedRunCountsWhatIsLeftOfItsEpoch) {
  StepPlanInput in = fashion_mnist();
  in.start_step = 500;
  in.start_epoch = 1;
  in.start_sample = 32 * 128;  // 32 batches of epoch 2 done
  const StepPlan plan = plan_steps(in);
  EXPECT_EQ(plan.total_steps, 500 + (468 - 32) + 8 * 468);
  // A run resumed past its end has nothing left, and never ends before its start.
  in.start_epoch = 10;
  in.start_sample = 0;
  in.start_step = 4680;
  EXPECT_EQ(plan_steps(in).total_steps, 4680);
  in.max_steps = 100;
  EXPECT_EQ(plan_steps(in).total_steps, 4680);
}

TEST(StepPlan, RefusesAnEpochWithoutAStep) {
  StepPlanInput in = fashion_mnist();
  in.batch_size = 70000;
  EXPECT_THAT([&] { plan_steps(in); },
              ::testing::ThrowsMessage<Error>(HasSubstr("data.batch_size: 70000 is larger than the 60000")));
  in.batch_size = 30000;
  in.accumulation = 3;
  EXPECT_THAT([&] { plan_steps(in); },
              ::testing::ThrowsMessage<Error>(HasSubstr("distributed.accumulation_steps: 3 micro-batches "
                                                        "per step, but an epoch has only 2")));
}

TEST(StepPlan, LogAndEvalSteps) {
  EXPECT_TRUE(is_log_step(50, 50, 4680));
  EXPECT_FALSE(is_log_step(51, 50, 4680));
  EXPECT_TRUE(is_log_step(4680, 50, 4680));  // the last step always logs
  EXPECT_FALSE(is_eval_step(100, 0));        // 0: only at epochs' ends
  EXPECT_TRUE(is_eval_step(100, 50));
  EXPECT_FALSE(is_eval_step(101, 50));
}

TEST(NonfinitePolicy, CountsSkipsAndStopsAfterTooManyInARow) {
  NonfinitePolicy policy(/*skip=*/true, /*max_consecutive_skips=*/2, /*rank=*/1);
  EXPECT_FALSE(policy.after_step(1, false, 1.0));
  const auto line = policy.after_step(2, true, NAN);
  ASSERT_TRUE(line);
  EXPECT_THAT(*line, HasSubstr("step 2: the gradient norm is nan; the step is skipped"));
  policy.check_consecutive_skips(2);
  EXPECT_FALSE(policy.after_step(3, false, 1.0));  // a good step resets the count
  policy.after_step(4, true, NAN);
  policy.after_step(5, true, NAN);
  EXPECT_EQ(policy.skipped_steps(), 3);
  EXPECT_THAT([&] { policy.check_consecutive_skips(5); },
              ::testing::ThrowsMessage<Error>(HasSubstr("rank 1 step 5: 2 steps in a row had non-finite")));
}

TEST(NonfinitePolicy, ALossReadBackNamesTheSteps) {
  NonfinitePolicy policy(false, 10, 0);
  policy.check_loss(0.5, 7, 7);
  EXPECT_THAT([&] { policy.check_loss(INFINITY, 7, 7); },
              ::testing::ThrowsMessage<Error>(HasSubstr("rank 0 step 7: the loss is inf")));
  EXPECT_THAT([&] { policy.check_loss(NAN, 1, 50); },
              ::testing::ThrowsMessage<Error>(HasSubstr("rank 0 steps 1-50: the loss is nan")));
}

TEST(StopAgreement, ASingleProcessDecidesAlone) {
  EXPECT_FALSE(agree_to_stop(nullptr, 0, false).stop());
  EXPECT_TRUE(agree_to_stop(nullptr, 0, true).requested);
  const StopDecision signalled = agree_to_stop(nullptr, 15, true);  // a signal wins
  EXPECT_EQ(signalled.signal, 15);
  EXPECT_FALSE(signalled.requested);
}

}  // namespace
}  // namespace trainrt::train
