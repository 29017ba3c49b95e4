// Image augmentation and normalisation against the same operations written with plain tensor ops.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "trainrt/core/error.h"
#include "trainrt/core/rng.h"
#include "trainrt/data/transform_registry.h"
#include "trainrt/data/transforms.h"

namespace trainrt::data {
namespace {

at::Tensor sample_image(int64_t c, int64_t h, int64_t w) {
  return torch::randint(0, 256, {c, h, w}, torch::kInt64).to(torch::kUInt8);
}

// What crop + flip must produce, written the obvious way: pad, crop at the drawn offset, mirror.
at::Tensor reference_augment(const at::Tensor& image, int pad, bool flip_enabled, uint64_t seed) {
  Rng rng(seed);
  const int64_t oy = pad ? static_cast<int64_t>(rng.below(2 * pad + 1)) : 0;
  const int64_t ox = pad ? static_cast<int64_t>(rng.below(2 * pad + 1)) : 0;
  const bool flip = flip_enabled && rng.coin();
  at::Tensor padded = torch::constant_pad_nd(image, {pad, pad, pad, pad}, 0);
  at::Tensor out = padded.narrow(1, oy, image.size(1)).narrow(2, ox, image.size(2));
  return flip ? out.flip({2}) : out;
}

TEST(ImageCollator, CropAndFlipMatchPlainTensorOps) {
  torch::manual_seed(0);
  const at::Tensor image = sample_image(3, 7, 9);
  ImageCollator collator({3, 7, 9}, {0.0f}, {1.0f}, ImageAugment{3, true});
  Batch batch = collator.allocate(1);
  for (uint64_t seed = 0; seed < 50; ++seed) {
    collator.put(batch, 0, {image, 0}, seed, 0);
    EXPECT_TRUE(torch::equal(batch.staging[0], reference_augment(image, 3, true, seed)))
        << "seed " << seed;
  }
}

TEST(ImageCollator, NormalisesPerChannelInOnePass) {
  const at::Tensor image = sample_image(2, 4, 4);
  ImageCollator collator({2, 4, 4}, {0.1f, 0.7f}, {0.2f, 0.5f}, ImageAugment{});
  Batch batch = collator.allocate(3);
  collator.put(batch, 1, {image, 4}, 0, 0);
  collator.finish(batch, 2);
  const at::Tensor mean = torch::tensor({0.1f, 0.7f}).view({2, 1, 1});
  const at::Tensor std = torch::tensor({0.2f, 0.5f}).view({2, 1, 1});
  const at::Tensor expected = (image.to(torch::kFloat32) / 255.0f - mean) / std;
  EXPECT_TRUE(torch::allclose(batch.input[1], expected, 1e-5, 1e-5));
  EXPECT_EQ(batch.target[1].item<int64_t>(), 4);
}

TEST(ImageCollator, RejectsSamplesOfTheWrongShapeOrType) {
  ImageCollator collator({1, 4, 4}, {0.0f}, {1.0f}, ImageAugment{});
  Batch batch = collator.allocate(1);
  EXPECT_THROW(collator.put(batch, 0, {torch::zeros({1, 5, 4}, torch::kUInt8), 0}, 0, 7), Error);
  EXPECT_THROW(collator.put(batch, 0, {torch::zeros({1, 4, 4}, torch::kFloat32), 0}, 0, 7), Error);
}

TEST(ImageCollator, AugmentationVariesAcrossSeedsButNotWithinOne) {
  const at::Tensor image = sample_image(1, 8, 8);
  ImageCollator collator({1, 8, 8}, {0.0f}, {1.0f}, ImageAugment{2, true});
  Batch a = collator.allocate(1), b = collator.allocate(1);
  int differing = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    collator.put(a, 0, {image, 0}, seed, 0);
    collator.put(b, 0, {image, 0}, seed, 0);
    EXPECT_TRUE(torch::equal(a.staging, b.staging));
    collator.put(b, 0, {image, 0}, seed + 1000, 0);
    differing += !torch::equal(a.staging, b.staging);
  }
  EXPECT_GT(differing, 10);
}

TEST(ImageCollator, RandomErasingPaintsOneRectangleWithTheMean) {
  const at::Tensor image = torch::full({1, 16, 16}, 255, torch::kUInt8);
  ImageCollator collator({1, 16, 16}, {0.5f}, {0.25f}, ImageAugment{0, false, 1.0f});
  Batch batch = collator.allocate(1);
  for (uint64_t seed = 0; seed < 20; ++seed) {
    collator.put(batch, 0, {image, 0}, seed, 0);
    const at::Tensor erased = batch.staging[0][0].eq(128);  // round(0.5 * 255)
    const int64_t count = erased.sum().item<int64_t>();
    EXPECT_GE(count, 4) << "seed " << seed;   // >= 2% of 256 pixels, rounded
    EXPECT_LE(count, 120) << "seed " << seed;
    // The erased pixels form a rectangle: rows x columns of them equals their count.
    const int64_t rows = erased.any(1).sum().item<int64_t>(), cols = erased.any(0).sum().item<int64_t>();
    EXPECT_EQ(rows * cols, count);
    EXPECT_EQ(batch.staging[0][0].eq(255).sum().item<int64_t>() + count, 256);
  }
}

TEST(SampleTransforms, RegisteredTransformsRunFirstSeededPerSampleAndAreCheckedByName) {
  auto& registry = TransformRegistry::instance().transforms();
  registry.add("test_negative_sometimes", [](at::Tensor image, Rng& rng) {
    if (rng.coin()) image = 255 - image;
    return image;
  });
  registry.add("test_wrong_shape", [](at::Tensor image, Rng&) { return image.narrow(1, 0, 2); });
  EXPECT_THROW(registry.add("test_negative_sometimes", nullptr), Error);
  try {
    registry.get("test_nothing", "data.transforms");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("data.transforms: unknown sample transform 'test_nothing' (known: "
                                         "test_negative_sometimes, test_wrong_shape)"), std::string::npos) << e.what();
  }

  const at::Tensor image = sample_image(1, 4, 4);
  const at::Tensor original = image.clone();
  ImageAugment augment;
  augment.custom.push_back({"test_negative_sometimes", registry.get("test_negative_sometimes", "t")});
  ImageCollator collator({1, 4, 4}, {0.0f}, {1.0f}, augment);
  Batch batch = collator.allocate(1);
  int negatives = 0;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    const bool negative = Rng(seed).coin();  // the transform's draw comes first
    collator.put(batch, 0, {image, 0}, seed, 0);
    EXPECT_TRUE(torch::equal(batch.staging[0], negative ? 255 - image : image)) << "seed " << seed;
    negatives += negative;
  }
  EXPECT_GT(negatives, 5);
  EXPECT_LT(negatives, 35);
  EXPECT_TRUE(torch::equal(image, original));  // the data set's own sample is never changed

  ImageAugment wrong;
  wrong.custom.push_back({"test_wrong_shape", registry.get("test_wrong_shape", "t")});
  ImageCollator bad({1, 4, 4}, {0.0f}, {1.0f}, wrong);
  try {
    bad.put(batch, 0, {image, 0}, 1, 17);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sample 17: transform 'test_wrong_shape' must return a contiguous uint8 "
                                         "image [1, 4, 4], got Byte [1, 2, 4]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace trainrt::data
