// The timeline a run writes with observe.trace_file: well-formed Chrome trace JSON, spans nested on
// each thread's lane, the steps asked for, and the phases of each step inside it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "obs/trace_check.h"
#include "test_util.h"
#include "train/train_test_util.h"

namespace trainrt::obs {
namespace {

using trainrt::testing::TempDir;
using trainrt::testing::TraceSpanInfo;

TEST(Trace, StepsAskedForWithTheirPhasesNestedOnNamedLanes) {
  TempDir data, out;
  trainrt::testing::write_idx_dataset(data.path(), 320, 100, 8, 8);
  const auto config = trainrt::testing::small_config(
      data.path(), {"train.epochs=1", "data.loader.threads=2", "observe.trace_file=" + out / "trace.json",
                    "observe.trace_first_step=3", "observe.trace_steps=4", "checkpoint.every_steps=4"});
  trainrt::testing::train(config, out / "run");
  const auto spans = trainrt::testing::read_trace_spans(out / "trace.json");
  EXPECT_THAT(trainrt::testing::trace_nesting_problems(spans), ::testing::IsEmpty());

  std::vector<TraceSpanInfo> steps;
  std::map<std::string, int> count;
  for (const auto& span : spans) {
    count[span.name] += 1;
    if (span.name == "step") steps.push_back(span);
    EXPECT_EQ(span.pid, 0);
    EXPECT_LE(span.begin, span.end);
  }
  ASSERT_EQ(steps.size(), 4u);  // steps 3, 4, 5, 6
  for (const char* phase : {"data wait", "forward", "backward", "optimizer"}) EXPECT_EQ(count[phase], 4) << phase;
  EXPECT_EQ(count["checkpoint snapshot"], 1);  // after step 4
  EXPECT_EQ(count["checkpoint write"], 1);
  EXPECT_GE(count["load batch"], 1);
  for (const auto& span : spans) {
    if (span.name == "forward" || span.name == "backward" || span.name == "optimizer") {
      const bool inside = std::any_of(steps.begin(), steps.end(), [&](const auto& step) {
        return step.begin <= span.begin && span.end <= step.end && step.tid == span.tid;
      });
      EXPECT_TRUE(inside) << span.name << " outside every step";
    }
    if (span.name == "step") EXPECT_EQ(span.lane, "main");
    if (span.name == "load batch") EXPECT_THAT(span.lane, ::testing::StartsWith("loader "));
    if (span.name == "checkpoint write") EXPECT_EQ(span.lane, "checkpoint writer");
  }
}

}  // namespace
}  // namespace trainrt::obs
