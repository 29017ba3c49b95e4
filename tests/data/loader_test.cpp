// The prefetching loader: same batches whatever the thread count and timing, exact resume,
// errors delivered at the batch they belong to, buffers never overwritten while held.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <random>
#include <thread>

#include "trainrt/core/error.h"
#include "trainrt/data/loader.h"
#include "trainrt/data/transforms.h"

namespace trainrt::data {
namespace {

// 1x6x6 images whose pixels encode their index; get() sleeps a random few microseconds so that
// worker threads finish out of order.
class JitteryDataset : public Dataset {
 public:
  JitteryDataset(int64_t n, int64_t fail_at = -1) : n_(n), fail_at_(fail_at) {}
  int64_t size() const override { return n_; }
  Example get(int64_t index) const override {
    thread_local std::mt19937 gen(std::hash<std::thread::id>{}(std::this_thread::get_id()));
    std::this_thread::sleep_for(std::chrono::microseconds(gen() % 50));
    if (index == fail_at_) throw DataError("sample " + std::to_string(index) + " is corrupt");
    at::Tensor image = torch::empty({1, 6, 6}, torch::kUInt8);
    auto* p = image.data_ptr<uint8_t>();
    for (int i = 0; i < 36; ++i) p[i] = static_cast<uint8_t>((index * 7 + i) % 251);
    return {image, index % 10};
  }

 private:
  int64_t n_, fail_at_;
};

std::shared_ptr<Collator> collator(ImageAugment augment = {}) {
  return std::make_shared<ImageCollator>(std::vector<int64_t>{1, 6, 6}, std::vector<float>{0.5f},
                                         std::vector<float>{0.25f}, augment);
}

// Every batch of `epochs` epochs, cloned.
std::vector<std::pair<at::Tensor, at::Tensor>> run(Loader& loader, int64_t epochs,
                                                   int64_t start_sample = 0) {
  std::vector<std::pair<at::Tensor, at::Tensor>> batches;
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    loader.start_epoch(epoch, epoch == 0 ? start_sample : 0);
    while (auto batch = loader.next()) {
      batches.emplace_back(batch->input.clone(), batch->target.clone());
    }
  }
  return batches;
}

void expect_same(const std::vector<std::pair<at::Tensor, at::Tensor>>& a,
                 const std::vector<std::pair<at::Tensor, at::Tensor>>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_TRUE(torch::equal(a[i].first, b[i].first)) << "batch " << i;
    ASSERT_TRUE(torch::equal(a[i].second, b[i].second)) << "batch " << i;
  }
}

LoaderOptions options(int threads, bool shuffle = true) {
  LoaderOptions o;
  o.batch_size = 8;
  o.threads = threads;
  o.prefetch = 3;
  o.shuffle = shuffle;
  o.seed = 11;
  return o;
}

TEST(Loader, BatchesAreIdenticalForAnyThreadCount) {
  auto dataset = std::make_shared<JitteryDataset>(100);
  const ImageAugment augment{2, true};
  Loader reference(dataset, collator(augment), options(0));
  const auto expected = run(reference, 2);
  ASSERT_EQ(expected.size(), 24u);  // 12 full batches of 8 per epoch, remainder dropped
  for (int threads : {1, 2, 8}) {
    Loader loader(dataset, collator(augment), options(threads));
    expect_same(run(loader, 2), expected);
  }
}

TEST(Loader, SequentialOrderAndNormalisedContent) {
  auto dataset = std::make_shared<JitteryDataset>(20);
  Loader loader(dataset, collator(), options(2, /*shuffle=*/false));
  loader.start_epoch(0);
  auto first = loader.next();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->target[3].item<int64_t>(), 3);
  // Pixel 5 of sample 3 is (3*7+5) % 251 = 26; normalised: (26/255 - 0.5) / 0.25.
  EXPECT_NEAR(first->input[3][0][0][5].item<float>(), (26.0f / 255.0f - 0.5f) / 0.25f, 1e-6);
}

TEST(Loader, ResumeAtAnyBatchEqualsTheUninterruptedSequence) {
  auto dataset = std::make_shared<JitteryDataset>(64);
  Loader full(dataset, collator({1, true}), options(2));
  const auto expected = run(full, 2);
  for (int64_t start : {1, 3, 7}) {
    // Stop after `start` batches, save the position, resume on a fresh loader.
    Loader first(dataset, collator({1, true}), options(2));
    first.start_epoch(0);
    for (int64_t b = 0; b < start; ++b) first.next();
    const LoaderPosition saved = first.position();
    EXPECT_EQ(saved.epoch, 0);
    EXPECT_EQ(saved.sample, start * 8);
    Loader resumed(dataset, collator({1, true}), options(2));
    const auto got = run(resumed, 2, saved.sample);
    std::vector<std::pair<at::Tensor, at::Tensor>> tail(expected.begin() + start, expected.end());
    expect_same(got, tail);
  }
}

TEST(Loader, PositionInGlobalSamplesResumesUnderAnotherWorldSize) {
  auto dataset = std::make_shared<JitteryDataset>(96);
  // Two ranks of batch 4 consume 3 global batches (24 samples) ...
  std::vector<int64_t> consumed;
  LoaderPosition saved;
  for (int rank = 0; rank < 2; ++rank) {
    LoaderOptions o = options(1);
    o.batch_size = 4;
    o.world_size = 2;
    o.rank = rank;
    Loader loader(dataset, collator(), o);
    loader.start_epoch(0);
    for (int b = 0; b < 3; ++b) {
      auto batch = loader.next();
      for (int64_t i = 0; i < batch->rows; ++i) consumed.push_back(batch->target[i].item<int64_t>());
    }
    saved = loader.position();
  }
  EXPECT_EQ(saved.sample, 24);
  // ... then one process of batch 8 continues: it sees exactly the other 72 samples of the epoch.
  Loader single(dataset, collator(), options(2));
  single.start_epoch(saved.epoch, saved.sample);
  int64_t rest = 0;
  while (auto batch = single.next()) rest += batch->rows;
  EXPECT_EQ(rest, 72);
  EXPECT_EQ(consumed.size(), 24u);
  // Same order as one process from the start: its first 24 samples are the ones consumed.
  Loader whole(dataset, collator(), options(0));
  whole.start_epoch(0);
  std::vector<int64_t> first24;
  for (int b = 0; b < 3; ++b) {
    auto batch = whole.next();
    for (int64_t i = 0; i < batch->rows; ++i) first24.push_back(batch->target[i].item<int64_t>());
  }
  std::sort(first24.begin(), first24.end());
  std::sort(consumed.begin(), consumed.end());
  EXPECT_EQ(first24, consumed);
}

TEST(Loader, SkipsBadSamplesWhenAskedAndCountsThem) {
  auto dataset = std::make_shared<JitteryDataset>(40, /*fail_at=*/19);
  LoaderOptions o = options(2, /*shuffle=*/false);
  o.skip_bad_samples = true;
  Loader loader(dataset, collator(), o);
  loader.start_epoch(0);
  std::vector<int64_t> rows;
  while (auto batch = loader.next()) rows.push_back(batch->rows);
  EXPECT_EQ(rows, (std::vector<int64_t>{8, 8, 7, 8, 8}));
  EXPECT_EQ(loader.skipped_samples(), 1);
  EXPECT_THAT(loader.first_skip_reason(), ::testing::HasSubstr("sample 19 is corrupt"));
}

TEST(Loader, EpochsDifferAndEachCoversDistinctSamples) {
  auto dataset = std::make_shared<JitteryDataset>(40);
  Loader loader(dataset, collator(), options(2));
  const auto batches = run(loader, 2);
  EXPECT_FALSE(torch::equal(batches[0].first, batches[5].first));
}

TEST(Loader, WorkerErrorSurfacesAtItsBatchThenLoadingContinues) {
  auto dataset = std::make_shared<JitteryDataset>(40, /*fail_at=*/19);
  Loader loader(dataset, collator(), options(3, /*shuffle=*/false));
  loader.start_epoch(0);
  EXPECT_TRUE(loader.next());  // samples 0-7
  EXPECT_TRUE(loader.next());  // samples 8-15
  try {
    loader.next();  // samples 16-23 include 19
    FAIL() << "expected the worker's error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("sample 19 is corrupt"));
  }
  auto after = loader.next();
  ASSERT_TRUE(after);
  EXPECT_EQ(after->target[0].item<int64_t>(), 24 % 10);
}

TEST(Loader, HeldBatchesAreNotOverwritten) {
  auto dataset = std::make_shared<JitteryDataset>(80);
  Loader loader(dataset, collator(), options(2, /*shuffle=*/false));
  loader.start_epoch(0);
  std::vector<Batch> held;
  std::vector<at::Tensor> copies;
  while (auto batch = loader.next()) {
    held.push_back(*batch);
    copies.push_back(batch->input.clone());
  }
  ASSERT_EQ(held.size(), 10u);
  for (size_t i = 0; i < held.size(); ++i) EXPECT_TRUE(torch::equal(held[i].input, copies[i]));
}

TEST(Loader, RankShardsDifferAndPartialRemainderEndsShort) {
  auto dataset = std::make_shared<JitteryDataset>(20);
  LoaderOptions o = options(1, /*shuffle=*/false);
  o.world_size = 2;
  o.rank = 1;
  o.remainder = Remainder::kPartial;
  Loader loader(dataset, collator(), o);
  const auto batches = run(loader, 1);
  ASSERT_EQ(batches.size(), 2u);  // global batches: samples 0-15, 16-19
  EXPECT_EQ(batches[0].second[0].item<int64_t>(), 8 % 10);
  EXPECT_EQ(batches[1].second.size(0), 0);  // rank 1 is past the end of 16-19
}

TEST(Loader, RestartingAnEpochMidwayIsSafe) {
  auto dataset = std::make_shared<JitteryDataset>(200);
  Loader loader(dataset, collator(), options(4));
  Loader reference(dataset, collator(), options(0));
  loader.start_epoch(0);
  loader.next();
  loader.start_epoch(1);  // abandon epoch 0 with batches in flight
  reference.start_epoch(1);
  while (auto expected = reference.next()) {
    auto got = loader.next();
    ASSERT_TRUE(got);
    EXPECT_TRUE(torch::equal(got->input, expected->input));
  }
  EXPECT_FALSE(loader.next());
}

TEST(Loader, PinnedBuffersOnCuda) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device (runs in tools/gpu_check)";
  auto dataset = std::make_shared<JitteryDataset>(40);
  LoaderOptions o = options(2);
  o.pin_memory = true;
  Loader loader(dataset, collator(), o);
  Loader pageable(dataset, collator(), options(2));
  loader.start_epoch(0);
  pageable.start_epoch(0);
  while (auto batch = loader.next()) {
    auto expected = pageable.next();
    EXPECT_TRUE(batch->input.is_pinned());
    EXPECT_TRUE(batch->target.is_pinned());
    const at::Tensor on_device = batch->input.to(torch::kCUDA, /*non_blocking=*/true);
    EXPECT_TRUE(torch::equal(on_device.cpu(), expected->input));
  }
}

}  // namespace
}  // namespace trainrt::data
