// The CUDA path, on whatever CUDA device this LibTorch sees (tools/gpu_check runs it on the GPU
// machine; CI has no GPU and skips every test here). Training on the GPU matches the CPU in
// float32, trains in bfloat16, copies batches ahead without losing their order or the loader's
// position, runs every collective through NCCL (world size 1: NCCL will not put two ranks on one
// device; multi-rank logic is shared with the Gloo tests), and its checkpoints resume on the GPU
// bit for bit and on the CPU.
#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/HashStore.hpp>

#include "test_util.h"
#include "train/train_test_util.h"
#include "trainrt/core/device.h"
#include "trainrt/data/device_feeder.h"
#include "trainrt/data/idx.h"
#include "trainrt/data/transforms.h"
#include "trainrt/dist/reducer.h"
#include "trainrt/infer/predictor.h"
#include "trainrt/dist/replicas.h"
#include "trainrt/ckpt/state_dict.h"
#include "trainrt/ckpt/trainer_checkpoint.h"

#if TRAINRT_WITH_NCCL
#include "trainrt/dist/flight_recorder.h"
#include "trainrt/dist/nccl_communicator.h"
#include "trainrt/dist/watchdog.h"
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#endif

namespace trainrt {
namespace {

namespace fs = std::filesystem;
using trainrt::testing::TempDir;
using trainrt::testing::metrics;
using trainrt::testing::read_file;
using trainrt::testing::small_config;
using trainrt::testing::train;

class Gpu : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device (this LibTorch: CPU only)";
    trainrt::testing::write_idx_dataset(data_.path(), 320, 100, 8, 8);
  }

  // The largest difference between two runs' final parameters, relative to the largest parameter.
  static double relative_difference(const std::string& run_a, const std::string& run_b) {
    auto a = ckpt::read_tensor_dict(read_file(run_a), run_a);
    auto b = ckpt::read_tensor_dict(read_file(run_b), run_b);
    double worst = 0;
    for (const auto& [name, tensor] : a) {
      const auto other = b.at(name).to(torch::kFloat64);
      const double scale = std::max(1e-12, tensor.abs().max().item<double>());
      worst = std::max(worst, (tensor.to(torch::kFloat64) - other).abs().max().item<double>() / scale);
    }
    return worst;
  }

  static std::string final_model(const std::string& run_dir, int64_t step) {
    return fmt::format("{}/checkpoints/step-{:08d}/{}", run_dir, step, ckpt::kModelFile);
  }

  TempDir data_, runs_;
};

TEST_F(Gpu, AutoPicksTheGpuAndRefusesADeviceItDoesNotHave) {
  EXPECT_TRUE(choose_device("auto", 0).is_cuda());
  const int count = static_cast<int>(torch::cuda::device_count());
  EXPECT_THAT(trainrt::testing::error_of([&] { choose_device("cuda", count); }),
              ::testing::HasSubstr(fmt::format("local rank {} needs CUDA device {}", count, count)));
}

TEST_F(Gpu, Float32TrainingMatchesTheCpu) {
  // Matrix products only (an MLP, no dropout): cuBLAS and the CPU's BLAS differ in summation
  // order, so equal within rounding, not bit for bit.
  const std::vector<std::string> extra{"train.epochs=1", "checkpoint.at_end=true"};
  auto on = [&](const std::string& device) {
    auto config = small_config(data_.path(), extra);
    config.mutable_runtime()->set_device(device);
    return train(config, runs_ / device);
  };
  const auto cpu = on("cpu");
  const auto gpu = on("cuda");
  ASSERT_EQ(cpu.steps, gpu.steps);
  EXPECT_LT(relative_difference(final_model(runs_ / "cpu", cpu.steps), final_model(runs_ / "cuda", gpu.steps)),
            1e-4);
  EXPECT_NEAR(cpu.eval.loss, gpu.eval.loss, 1e-4);
  const auto cpu_losses = metrics(runs_ / "cpu", "train");
  const auto gpu_losses = metrics(runs_ / "cuda", "train");
  ASSERT_EQ(cpu_losses.size(), gpu_losses.size());
  for (size_t i = 0; i < cpu_losses.size(); ++i) {
    EXPECT_NEAR(cpu_losses[i]["loss"].get<double>(), gpu_losses[i]["loss"].get<double>(), 1e-4) << "line " << i;
  }
}

TEST_F(Gpu, Bfloat16AutocastTrainsACnn) {
  auto config = small_config(data_.path(), {"model.name=cnn", "runtime.device=cuda",
                                            "runtime.precision=bfloat16", "train.epochs=3"});
  const auto result = train(config, runs_ / "bf16");
  const auto lines = metrics(runs_ / "bf16", "train");
  ASSERT_GE(lines.size(), 10u);
  EXPECT_LT(lines.back()["loss"].get<double>(), lines.front()["loss"].get<double>());
  EXPECT_TRUE(std::isfinite(result.eval.loss));
  // Weights and their optimizer state stay float32; only the forward pass ran in bfloat16.
  const auto saved = ckpt::read_tensor_dict(read_file(final_model(runs_ / "bf16", result.steps)), "model.pt");
  for (const auto& [name, tensor] : saved) EXPECT_EQ(tensor.scalar_type(), torch::kFloat) << name;
}

TEST_F(Gpu, FeederCopiesAheadInOrderAndKeepsTheLoadersPosition) {
  const auto split = data::load_idx_split(data_.path(), "train", 0, 10);
  auto dataset = std::make_shared<data::TensorDataset>(split.images, split.labels);
  auto collator = std::make_shared<data::ImageCollator>(std::vector<int64_t>{1, 8, 8},
                                                         std::vector<float>{0.5f},
                                                         std::vector<float>{0.25f}, data::ImageAugment{});
  data::LoaderOptions options;
  options.batch_size = 32;
  options.threads = 2;
  options.shuffle = true;
  data::Loader reference(dataset, collator, options);
  options.pin_memory = true;
  data::Loader pinned(dataset, collator, options);
  const torch::Device device(torch::kCUDA, 0);
  data::DeviceFeeder feeder(pinned, device);
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    reference.start_epoch(epoch, epoch == 1 ? 64 : 0);  // the second epoch resumes mid-way
    feeder.start_epoch(epoch, epoch == 1 ? 64 : 0);
    int64_t batches = 0;
    while (auto expected = reference.next()) {
      auto got = feeder.next();
      ASSERT_TRUE(got) << "epoch " << epoch << " batch " << batches;
      ASSERT_TRUE(got->input.is_cuda());
      EXPECT_TRUE(torch::equal(got->input.cpu(), expected->input)) << "epoch " << epoch << " batch " << batches;
      EXPECT_TRUE(torch::equal(got->target.cpu(), expected->target));
      EXPECT_EQ(feeder.position().sample, reference.position().sample);
      ++batches;
    }
    EXPECT_FALSE(feeder.next());
    EXPECT_GT(batches, 0);
  }
}

TEST_F(Gpu, CheckpointFromTheGpuResumesBitForBitOnTheGpuAndContinuesOnTheCpu) {
  // Dropout on the GPU draws from the CUDA generator, whose state the checkpoint carries.
  auto config = small_config(data_.path(), {"model.mlp.dropout=0.2", "optimizer.name=adamw",
                                            "optimizer.lr=0.01", "checkpoint.every_steps=10",
                                            "checkpoint.keep_last=0", "runtime.device=cuda"});
  const auto full = train(config, runs_ / "full");
  ASSERT_EQ(full.steps, 60);
  for (const std::string device : {"cuda", "cpu"}) {
    const std::string run = runs_ / ("resumed-on-" + device);
    fs::create_directories(run + "/checkpoints");
    fs::copy(runs_ / "full/checkpoints/step-00000030", run + "/checkpoints/step-00000030",
             fs::copy_options::recursive);
    auto on_device = config;
    on_device.mutable_runtime()->set_device(device);
    const auto resumed = train(on_device, run, "auto");
    EXPECT_EQ(resumed.resumed_step, 30);
    EXPECT_EQ(resumed.steps, 60);
    if (device == "cuda") {
      EXPECT_EQ(read_file(final_model(run, 60)), read_file(final_model(runs_ / "full", 60)));
    } else {
      // Another generator draws the CPU's dropout masks: the same run continued, not the same bits.
      EXPECT_TRUE(std::isfinite(resumed.eval.loss));
      EXPECT_LT(relative_difference(final_model(run, 60), final_model(runs_ / "full", 60)), 0.5);
    }
  }
}

TEST_F(Gpu, CnnCheckpointResumesBitForBitWithDeterministicKernels) {
  // cuDNN's default convolution algorithms add in varying order; runtime.deterministic fixes them.
  auto config = small_config(data_.path(), {"model.name=cnn", "model.cnn.channels=8,16", "runtime.device=cuda",
                                            "runtime.deterministic=true", "checkpoint.every_steps=10",
                                            "checkpoint.keep_last=0"});
  train(config, runs_ / "full");
  const std::string run = runs_ / "resumed";
  fs::create_directories(run + "/checkpoints");
  fs::copy(runs_ / "full/checkpoints/step-00000030", run + "/checkpoints/step-00000030", fs::copy_options::recursive);
  EXPECT_EQ(train(config, run, "auto").resumed_step, 30);
  EXPECT_EQ(read_file(final_model(run, 60)), read_file(final_model(runs_ / "full", 60)));
}

TEST_F(Gpu, PredictorOnTheGpuGivesTheCpusAnswers) {
  auto config = small_config(data_.path(), {"model.name=cnn", "model.cnn.channels=8,16", "runtime.device=cpu"});
  train(config, runs_ / "run");
  infer::export_bundle(runs_ / "run", runs_ / "bundle");
  const infer::Predictor cpu(runs_ / "bundle");
  const infer::Predictor gpu(runs_ / "bundle", infer::PredictorOptions{"cuda"});
  const torch::Tensor images = torch::randint(0, 256, {64, 1, 8, 8}, torch::kUInt8);
  const torch::Tensor on_gpu = gpu.predict_images(images);
  EXPECT_EQ(on_gpu.device().type(), torch::kCPU);  // handed back on the CPU
  EXPECT_TRUE(torch::allclose(on_gpu, cpu.predict_images(images), 1e-4, 1e-4));
}

#if TRAINRT_WITH_NCCL
class Nccl : public Gpu {
 protected:
  void SetUp() override {
    Gpu::SetUp();
    if (IsSkipped()) return;
    choose_device("auto", 0);
    communicator_ = dist::make_nccl_communicator(c10::make_intrusive<c10d::HashStore>(), 0, 1,
                                                 std::chrono::seconds(60));
  }
  std::shared_ptr<dist::Communicator> communicator_;
};

TEST_F(Nccl, EveryCollectiveRunsOnCudaTensors) {
  const auto cuda = torch::TensorOptions(torch::kFloat).device(communicator_->device());
  ASSERT_TRUE(communicator_->device().is_cuda());
  auto tensor = torch::arange(8, cuda);
  communicator_->all_reduce(tensor)->wait();
  EXPECT_TRUE(torch::equal(tensor.cpu(), torch::arange(8, torch::kFloat)));
  communicator_->all_reduce(tensor, dist::ReduceOp::kMax)->wait();
  communicator_->broadcast(tensor, 0)->wait();
  EXPECT_TRUE(torch::equal(tensor.cpu(), torch::arange(8, torch::kFloat)));
  auto gathered = torch::zeros({8}, cuda);
  communicator_->all_gather(gathered, tensor)->wait();
  EXPECT_TRUE(torch::equal(gathered.cpu(), torch::arange(8, torch::kFloat)));
  auto slice = torch::zeros({8}, cuda);
  communicator_->reduce_scatter(slice, tensor)->wait();
  EXPECT_TRUE(torch::equal(slice.cpu(), torch::arange(8, torch::kFloat)));
  communicator_->barrier()->wait();
  EXPECT_EQ(dist::broadcast_bytes("checkpoint bytes", *communicator_), "checkpoint bytes");
  EXPECT_EQ(dist::all_gather_bytes("rank 0", *communicator_), std::vector<std::string>{"rank 0"});
  EXPECT_TRUE(communicator_->supports_dtype(torch::kBFloat16));
}

TEST_F(Nccl, ReducerBucketsGradientsOfACudaModel) {
  for (const auto wire : {torch::kFloat, torch::kBFloat16}) {
    torch::manual_seed(1);
    torch::nn::Sequential model(torch::nn::Linear(64, 256), torch::nn::ReLU(), torch::nn::Linear(256, 10));
    model->to(communicator_->device());
    const auto input = torch::randn({32, 64}, torch::TensorOptions().device(communicator_->device()));
    model->forward(input).pow(2).mean().backward();
    std::vector<torch::Tensor> expected;
    for (const auto& p : model->parameters()) expected.push_back(p.grad().clone());
    for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();

    dist::ReducerOptions options;
    options.limits.bucket_bytes = 16 << 10;  // several buckets
    options.limits.first_bucket_bytes = 4 << 10;
    options.wire_dtype = wire;
    dist::GradientReducer reducer(model->parameters(), communicator_, options);
    ASSERT_GT(reducer.buckets().size(), 1u);
    reducer.prepare_for_backward(/*communicate=*/true);
    model->forward(input).pow(2).mean().backward();
    reducer.finish();
    const double tolerance = wire == torch::kFloat ? 1e-6 : 1e-2;
    const auto parameters = model->parameters();
    for (size_t i = 0; i < parameters.size(); ++i) {
      EXPECT_TRUE(torch::allclose(parameters[i].grad(), expected[i], tolerance, tolerance))
          << "parameter " << i << " wire " << wire;
    }
  }
}

// Memory recovery's NCCL path (dist/replica_group.cpp): a generation's communicator is dropped
// (its destruction aborts the NCCL communicators) and the next one is created over new store
// keys; collectives on the new one are right. World size 1: the one GPU of the GPU machine.
TEST_F(Nccl, ACommunicatorDroppedMidUseIsReplacedAndTheNextOneWorks) {
  auto store = c10::make_intrusive<c10d::HashStore>();
  const auto cuda = torch::TensorOptions(torch::kFloat).device(communicator_->device());
  for (int generation = 1; generation <= 3; ++generation) {
    auto old_tensor = torch::ones({1 << 20}, cuda);
    auto in_flight = communicator_->all_reduce(old_tensor);  // on the generation being dropped
    communicator_.reset();  // ProcessGroupNCCL's destructor aborts its NCCL communicators
    try {
      in_flight->wait();  // finished before the abort, or failed by it: either is fine
    } catch (const Error&) {
    }
    in_flight.reset();
    auto scoped = c10::make_intrusive<c10d::PrefixStore>(fmt::format("g{}/pg/", generation), store);
    communicator_ = dist::make_nccl_communicator(scoped, 0, 1, std::chrono::seconds(60));
    auto tensor = torch::full({1 << 20}, static_cast<float>(generation), cuda);
    communicator_->all_reduce(tensor)->wait();
    EXPECT_TRUE(torch::equal(tensor.cpu(), torch::full({1 << 20}, static_cast<float>(generation))));
  }
  auto tensor = torch::arange(8, cuda);
  communicator_->all_reduce(tensor)->wait();
  EXPECT_TRUE(torch::equal(tensor.cpu(), torch::arange(8, torch::kFloat)));
}

// Queues about `seconds` of matrix products on the current stream (NCCL's stream is ordered
// after it), timed from one product first.
void keep_the_gpu_busy(torch::Device device, double seconds) {
  const auto a = torch::randn({8192, 8192}, torch::TensorOptions(torch::kFloat).device(device));
  torch::mm(a, a).sum().item<float>();  // warm
  const auto start = std::chrono::steady_clock::now();
  torch::mm(a, a).sum().item<float>();
  const double one = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int n = static_cast<int>(seconds / std::max(one, 1e-4)) + 1;
  for (int i = 0; i < n; ++i) torch::mm(a, a);
}

// NCCL's futures complete when the collective is queued (issue 22): completion must come from
// the GPU (dist/completion_poller.h), or the watchdog, the flight recorder and the reducer's
// timings all see a collective done that has not run.
TEST_F(Nccl, ACollectiveQueuedBehindALongKernelIsNotReportedCompleteEarly) {
  dist::Supervision supervision;
  supervision.flight = std::make_shared<dist::FlightRecorder>("", 0, 0, 1, "generation 0");
  auto communicator = dist::make_nccl_communicator(
      c10::make_intrusive<c10d::PrefixStore>("early/", c10::make_intrusive<c10d::HashStore>()), 0, 1,
      std::chrono::seconds(60), supervision);
  auto tensor = torch::ones({1024}, torch::TensorOptions(torch::kFloat).device(communicator->device()));
  communicator->all_reduce(tensor)->wait();  // NCCL's communicator is created by the first one
  keep_the_gpu_busy(communicator->device(), 2.0);
  std::atomic<bool> seen{false};
  auto work = communicator->all_reduce(tensor);
  work->on_completion([&] { seen = true; });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(seen.load()) << "completion reported while the GPU still ran what was queued before it";
  EXPECT_FALSE(work->completed());
  EXPECT_EQ(supervision.flight->snapshot("test").entries.back().state, dist::FlightEntry::State::kInFlight);
  work->wait();
  tensor.sum().item<float>();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!seen && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_TRUE(seen.load());
  EXPECT_EQ(supervision.flight->snapshot("test").entries.back().state, dist::FlightEntry::State::kCompleted);
}

TEST_F(Nccl, TheWatchdogCatchesACollectiveTheGpuHasNotReached) {
  std::mutex mutex;
  std::vector<std::string> messages;
  dist::Supervision supervision;
  supervision.watchdog = std::make_shared<dist::Watchdog>(std::chrono::milliseconds(500), [&](const std::string& m) {
    std::lock_guard<std::mutex> lock(mutex);
    messages.push_back(m);
  });
  supervision.flight = std::make_shared<dist::FlightRecorder>("", 0, 0, 1, "generation 0");
  auto communicator = dist::make_nccl_communicator(
      c10::make_intrusive<c10d::PrefixStore>("stuck/", c10::make_intrusive<c10d::HashStore>()), 0, 1,
      std::chrono::seconds(60), supervision);
  auto tensor = torch::ones({1024}, torch::TensorOptions(torch::kFloat).device(communicator->device()));
  communicator->all_reduce(tensor)->wait();
  keep_the_gpu_busy(communicator->device(), 3.0);
  auto work = communicator->all_reduce(tensor);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  {
    std::lock_guard<std::mutex> lock(mutex);
    ASSERT_EQ(messages.size(), 1u) << "the watchdog did not fire for a collective stuck behind 3 s of kernels";
    EXPECT_THAT(messages[0], ::testing::HasSubstr("rank 0: collective #1 all_reduce (nccl) has not completed after"));
  }
  work->wait();  // the kernels end; so does the collective
}
#endif

}  // namespace
}  // namespace trainrt
