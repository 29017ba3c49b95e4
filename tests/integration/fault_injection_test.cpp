// The fault-injection suite (docs/RELIABILITY.md has the table): real processes under `trainrt
// launch` meet the faults a long job meets, and each case checks what must hold - no hang beyond
// the timeout, no broken checkpoint taken as good, and a recovered run's final parameters and
// per-step losses identical to an uninterrupted run's.
//   - workers SIGKILLed (TRAINRT_FAULT, core/fault_injection.h) six times over one run, at random
//     steps and ranks: before a forward pass, inside an all-reduce, halfway through a checkpoint;
//   - checkpoints bit-flipped and truncated before a resume; data files truncated, bit-flipped,
//     corrupted in their gzip stream;
//   - a full disk (a real one: a 1 MiB tmpfs in a mount namespace of the test's own);
//   - a node whose workers never arrive at the rendezvous;
//   - a NaN loss on one rank of two, with train.on_nonfinite: skip.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <optional>

#include "test_paths.h"  // TRAINRT_BIN, TRAINRT_SOURCE_DIR, ... (tests/CMakeLists.txt)
#include "dist/dist_test_util.h"
#include "integration/training_job.h"
#include "trainrt/core/files.h"

namespace trainrt {
namespace {

using ::testing::HasSubstr;
using trainrt::testing::Child;
using trainrt::testing::read_file;
using trainrt::testing::spawn_child;
using trainrt::testing::wait_child;
using trainrt::testing::write_file;
using namespace std::chrono_literals;

class FaultInjection : public trainrt::testing::TrainingJobTest {
 protected:
  const std::vector<std::string> eight_{"--set", "data.batch_size=8"};  // 2 ranks x 8 per step

  int count(const std::string& text, const std::string& what) {
    int n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  }

  // `trainrt train` of `job` alone into RUN (extra arguments appended); its exit code and output.
  std::pair<int, std::string> train_alone(const std::string& run, const std::vector<std::string>& extra = {},
                                          const std::string& job = "plain.pbtxt") {
    std::vector<std::string> argv{TRAINRT_BIN, "train", data_ / job, "--run-dir", out_ / run};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const int code = wait_child(spawn_child(argv, {}, out_ / (run + ".log")), 240s);
    return {code, read_file(out_ / (run + ".log"))};
  }

  // A real full disk: `script` run in a mount namespace of this test's own (root only) after a
  // tmpfs of `size` is mounted on DISK (spelled {0} in it; {1} is the program). Its exit code and
  // output, or nullopt where nothing can be mounted.
  std::optional<std::pair<int, std::string>> on_small_disk(const std::string& size, const std::string& script) {
    const std::string disk = out_ / "disk";
    std::filesystem::create_directories(disk);
    const std::string command =
        fmt::format("mount -t tmpfs -o size={2} tmpfs {0} || exit 77; " + script, disk, TRAINRT_BIN, size);
    const int code = wait_child(spawn_child({"unshare", "--mount", "sh", "-c", command}, {}, out_ / "disk.log"), 240s);
    const std::string log = read_file(out_ / "disk.log");
    if (code == 77 || log.find("unshare failed") != std::string::npos) return std::nullopt;
    return std::make_pair(code, log);
  }
};

struct Fault {
  std::string point;
  int64_t step;
  int rank;
};

TEST_F(FaultInjection, WorkersKilledSixTimesAtRandomPointsEndBitForBitLikeTheUninterruptedRun) {
  if (!TRAINRT_WITH_GLOO) GTEST_SKIP() << "built without the Gloo backend";
  ASSERT_EQ(wait_child(launch("full", 2, "fi-full", {}, "job.pbtxt", eight_), 240s), 0)
      << read_file(out_ / "full.log");

  // One fault per incarnation, at increasing steps after the first checkpoint (step 6): each
  // incarnation resumes before its fault's step, so every fault is met. Each kind at least once,
  // in random order.
  std::vector<std::string> points{"forward", "allreduce", "checkpoint"};
  const char* kinds[] = {"forward", "allreduce", "checkpoint"};
  for (int i = 0; i < 3; ++i) points.push_back(kinds[random_step(0, 2)]);
  std::shuffle(points.begin(), points.end(), random_);
  std::vector<Fault> faults;
  std::string spec;
  for (int i = 0; i < 6; ++i) {
    Fault fault{points[i], random_step(19 * i + 8, 19 * i + 18), static_cast<int>(random_step(0, 1))};
    if (fault.point == "checkpoint") {
      fault.step = (fault.step + 5) / 6 * 6;  // checkpoints are every 6 steps, written by rank 0
      fault.rank = 0;
    }
    faults.push_back(fault);
    spec += fmt::format("{}{}:{}:{}", i ? "," : "", fault.point, fault.step, fault.rank);
  }
  SCOPED_TRACE("TRAINRT_FAULT=" + spec);

  const auto started = std::chrono::steady_clock::now();
  // Synchronous checkpoints: a fault 2 steps after a checkpoint must find it committed (an
  // asynchronous one may still be on its way under load, and the incarnation start afresh).
  auto train_args = eight_;
  train_args.insert(train_args.end(), {"--set", "checkpoint.async=false"});
  const Child launcher = launch("run", 2, "fi-run", {"--max-restarts", "6", "--recovery", "restart", "--stop-timeout", "2"},
                                "job.pbtxt", train_args, {"TRAINRT_FAULT=" + spec});
  ASSERT_EQ(wait_child(launcher, 600s), 0) << read_file(out_ / "run.log");
  const std::string log = read_file(out_ / "run.log");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 300s) << "recovery took too long";
  for (const auto& fault : faults) {
    EXPECT_THAT(log, HasSubstr(fmt::format("TRAINRT_FAULT: SIGKILL at {}, step {}, rank {}", fault.point,
                                           fault.step, fault.rank)));
    if (fault.point == "checkpoint") {
      // The half-written checkpoint was not taken as good: the next incarnation resumed from the
      // one before it.
      EXPECT_THAT(log, HasSubstr(fmt::format("[rank 0] resumed from {}", out_ / fmt::format(
                                                 "run/checkpoints/step-{:08d}", fault.step - 6))));
    }
  }
  EXPECT_GE(count(log, "killed by signal 9 (SIGKILL)"), 6) << log;
  EXPECT_EQ(count(log, "[rank 0] resumed from "), 6) << log;
  expect_identical_runs("run", "full");
}

TEST_F(FaultInjection, BitFlippedAndTruncatedCheckpointsAreSkippedAndTheResumedRunEndsAsTheFullOne) {
  ASSERT_EQ(train_alone("full", {"--set", "checkpoint.keep_last=0"}).first, 0);
  // A copy of the run as a crash after step 60 would leave it (checkpoints up to 60); then 60's
  // model is bit-flipped and 54's optimizer state truncated, so the resume must start from 48.
  std::filesystem::copy(out_ / "full", out_ / "run", std::filesystem::copy_options::recursive);
  for (const auto& entry : std::filesystem::directory_iterator(out_ / "run/checkpoints")) {
    const std::string name = entry.path().filename().string();
    std::error_code ignored;  // remove_tree, not std::filesystem::remove_all: see core/files.h
    if (name.rfind("step-", 0) == 0 && std::stoll(name.substr(5)) > 60) remove_tree(entry.path().string(), ignored);
  }
  const std::string newest = out_ / "run/checkpoints/step-00000060/model.pt";
  std::string bytes = read_file(newest);
  bytes[bytes.size() / 2] ^= 0x04;
  write_file(newest, bytes);
  std::filesystem::resize_file(out_ / "run/checkpoints/step-00000054/optimizer.pt", 100);

  const auto [code, log] = train_alone("run");
  ASSERT_EQ(code, 0) << log;
  EXPECT_THAT(log, HasSubstr("step-00000060: model.pt: CRC-32"));
  EXPECT_THAT(log, HasSubstr("step-00000054: optimizer.pt: 100 bytes, the manifest says"));
  EXPECT_THAT(log, HasSubstr("resumed from " + (out_ / "run/checkpoints/step-00000048") + ": step 48"));
  EXPECT_TRUE(final_model("run") == final_model("full")) << "final parameters differ";
}

TEST_F(FaultInjection, TruncatedOrCorruptedDataFilesAreNamedAndNothingTrains) {
  const std::string images = data_ / "train-images-idx3-ubyte";
  const std::string pristine = read_file(images);
  auto expect_refused = [&](const std::string& what, const std::string& message) {
    SCOPED_TRACE(what);
    const auto [code, log] = train_alone("bad");
    EXPECT_EQ(code, 1) << log;
    EXPECT_THAT(log, HasSubstr(message));
    EXPECT_THAT(log, ::testing::Not(HasSubstr("step 1")));
  };
  write_file(images, pristine.substr(0, pristine.size() - 100));  // truncated
  expect_refused("truncated", "'" + images + "'");
  std::string flipped = pristine;
  flipped[2] ^= 0x01;  // the type byte of the header
  write_file(images, flipped);
  expect_refused("header bit flip", "'" + images + "'");
  // Gzipped: a flipped bit in the compressed stream fails its CRC.
  std::filesystem::remove(images);
  const std::string gz = images + ".gz";
  {
    gzFile out = gzopen(gz.c_str(), "wb");
    gzwrite(out, pristine.data(), static_cast<unsigned>(pristine.size()));
    gzclose(out);
  }
  std::string compressed = read_file(gz);
  compressed[compressed.size() / 2] ^= 0x20;
  write_file(gz, compressed);
  expect_refused("gzip bit flip", "'" + gz + "'");
}

TEST_F(FaultInjection, AFullDiskKeepsTheLastWholeCheckpointAndTheRunCanResumeElsewhere) {
  // The size of one checkpoint, from a short run.
  ASSERT_EQ(train_alone("probe", {"--set", "train.max_steps=6"}).first, 0);
  uintmax_t checkpoint_bytes = 0;
  for (const auto& file : std::filesystem::directory_iterator(out_ / "probe/checkpoints/step-00000006")) {
    checkpoint_bytes += file.file_size();
  }
  // Room for two checkpoints (checkpoint.keep_last) and a half: every third write runs out of space.
  const auto ran = on_small_disk(std::to_string(checkpoint_bytes * 5 / 2 + 65536),
                                 "{1} train " + (data_ / "plain.pbtxt") + " --run-dir {0}/run --set "
                                 "train.log_every_steps=1000; code=$?; {1} ckpt inspect {0}/run; "
                                 "cp -r {0}/run " + out_.path() + "/saved; exit $code");
  if (!ran) GTEST_SKIP() << "cannot mount here: " << read_file(out_ / "disk.log");
  const auto& [code, log] = *ran;
  EXPECT_EQ(code, 1) << log;
  EXPECT_THAT(log, HasSubstr("No space left on device"));
  EXPECT_THAT(log, HasSubstr("the previous checkpoint is kept"));
  EXPECT_THAT(log, HasSubstr("(whole)"));
  for (const auto& entry : std::filesystem::directory_iterator(out_ / "saved/checkpoints")) {
    EXPECT_NE(entry.path().filename().string().rfind(".tmp", 0), 0u) << "a half-written checkpoint was left";
  }
  // The checkpoints that fitted are whole: a run elsewhere resumes from the newest and finishes.
  const auto [resumed, resume_log] = train_alone("saved");
  EXPECT_EQ(resumed, 0) << resume_log;
  EXPECT_THAT(resume_log, HasSubstr("resumed from " + (out_ / "saved/checkpoints/step-")));
}

TEST_F(FaultInjection, AFullDiskUnderMetricsJsonlLosesLinesNotTheRun) {
  // The run directory on a real full disk (a 16 KiB tmpfs: config.pbtxt and some 25 metrics lines
  // fit), its checkpoints on another one. With checkpoint.on_error: continue (the default) the run
  // ended at the first metrics line that did not fit; it must train on, warn once naming the file
  // and the error, and keep writing checkpoints.
  const auto ran = on_small_disk("16k", "{1} train " + (data_ / "plain.pbtxt") + " --run-dir {0}/run --set "
                                        "checkpoint.dir=" + out_.path() + "/checkpoints --set observe.tensorboard=false; "
                                        "code=$?; cp {0}/run/metrics.jsonl " + out_.path() + "; exit $code");
  if (!ran) GTEST_SKIP() << "cannot mount here: " << read_file(out_ / "disk.log");
  const auto& [code, log] = *ran;
  EXPECT_EQ(code, 0) << log;
  EXPECT_EQ(count(log, "metrics.jsonl': No space left on device"), 1) << log;
  EXPECT_THAT(log, HasSubstr("training goes on"));
  EXPECT_TRUE(std::filesystem::exists(out_ / "checkpoints/step-00000120")) << log;
  // What did fit is whole lines, in step order: a line cut short by the full disk was taken back.
  const auto lines = trainrt::testing::read_lines(out_ / "metrics.jsonl");
  ASSERT_GT(lines.size(), 10u);
  EXPECT_LT(lines.size(), static_cast<size_t>(trainrt::testing::kSteps));
  int64_t previous = 0;
  for (const auto& line : lines) {
    const auto parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(parsed.is_object()) << "a torn line: " << line;
    EXPECT_GE(parsed["step"].get<int64_t>(), previous);
    previous = parsed["step"].get<int64_t>();
  }
}

TEST_F(FaultInjection, ANodeThatNeverArrivesFailsTheJobNamingItsRanksWithinTheTimeout) {
  const auto started = std::chrono::steady_clock::now();
  const Child node0 = spawn_child(
      {TRAINRT_BIN, "launch", "--nnodes", "2", "--node-rank", "0", "--nproc-per-node", "1",
       "--master-port", std::to_string(trainrt::testing::free_port()), "--", TRAINRT_BIN, "train",
       data_ / "plain.pbtxt", "--run-dir", out_ / "run", "--set", "distributed.timeout_seconds=3"},
      {}, out_ / "node0.log");
  EXPECT_EQ(wait_child(node0, 60s), 1) << read_file(out_ / "node0.log");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 30s);
  EXPECT_THAT(read_file(out_ / "node0.log"), HasSubstr("rendezvous timed out after 3 s: rank 1 of 2 did not arrive"));
}

TEST_F(FaultInjection, ANanLossOnOneRankIsSkippedByBothAndTheRunGoesOn) {
  if (!TRAINRT_WITH_GLOO) GTEST_SKIP() << "built without the Gloo backend";
  // 160 rows; row 37 of the training set is marked, which the plugin's model answers with NaN. It
  // lands in one rank's half of one step per epoch.
  trainrt::testing::write_csv_features(data_.path(), 160, {37});
  write_file(data_ / "nan.pbtxt",
             "model { name: 'test_nan_on_marked_rows' }\n"
             "data { dir: '" + data_.path() + "' format: 'csv' batch_size: 16 }\n"
             "optimizer { lr: 0.05 }\n"
             "train { epochs: 3 log_every_steps: 1 on_nonfinite: 'skip' }\n"
             "runtime { threads: 1 }\n");
  const std::string plugin = std::string(TRAINRT_TEST_PLUGIN_DIR) + "/libtrainrt_test_plugin.so";
  const Child launcher = launch("run", 2, "fi-nan", {}, "nan.pbtxt",
                                {"--plugin", plugin, "--set", "data.batch_size=8"});
  ASSERT_EQ(wait_child(launcher, 240s), 0) << read_file(out_ / "run.log");
  const std::string log = read_file(out_ / "run.log");
  // One skip per epoch. Had the ranks disagreed, one replica would hold NaN parameters, every later
  // step's averaged gradients would be NaN, and train.max_consecutive_skips would end the run.
  EXPECT_EQ(count(log, "the gradient norm is nan; the step is skipped"), 3) << log;
  const auto lines = losses("run");
  ASSERT_EQ(lines.size(), 30u);
  for (const auto& [step, loss] : lines) EXPECT_TRUE(std::isfinite(loss)) << "step " << step;
  EXPECT_THAT(log, ::testing::ContainsRegex("test accuracy 0\\.9[0-9]+|test accuracy 1\\.0"));
}

}  // namespace
}  // namespace trainrt
