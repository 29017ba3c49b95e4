#include "trainrt/data/transforms.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "trainrt/core/error.h"
#include "trainrt/core/rng.h"

namespace trainrt::data {

ImageCollator::ImageCollator(std::vector<int64_t> sample_shape, std::vector<float> mean,
                             std::vector<float> std, ImageAugment augment)
    : shape_(std::move(sample_shape)), augment_(augment) {
  if (shape_.size() != 3) {
    throw DataError(fmt::format("ImageCollator: samples must be [C, H, W], got [{}]",
                                fmt::join(shape_, ", ")));
  }
  const auto channels = static_cast<size_t>(shape_[0]);
  if ((mean.size() != 1 && mean.size() != channels) || mean.size() != std.size()) {
    throw DataError(fmt::format("normalisation needs 1 or {} values of mean and std, got {} and {}",
                                channels, mean.size(), std.size()));
  }
  for (size_t c = 0; c < channels; ++c) {
    const float m = mean[mean.size() == 1 ? 0 : c];
    const float s = std[std.size() == 1 ? 0 : c];
    scale_.push_back(1.0f / (255.0f * s));
    shift_.push_back(-m / s);
    fill_.push_back(static_cast<uint8_t>(std::lround(std::clamp(m, 0.0f, 1.0f) * 255.0f)));
  }
}

namespace {

// torchvision's RandomErasing: up to 10 tries to place a rectangle of random area and aspect.
void erase_random_rectangle(uint8_t* image, int64_t C, int64_t H, int64_t W,
                            const std::vector<uint8_t>& fill, Rng& rng) {
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double area = (0.02 + rng.uniform() * (0.33 - 0.02)) * static_cast<double>(H * W);
    const double log_ratio = std::log(0.3) + rng.uniform() * (std::log(3.3) - std::log(0.3));
    const double ratio = std::exp(log_ratio);
    const auto h = static_cast<int64_t>(std::lround(std::sqrt(area * ratio)));
    const auto w = static_cast<int64_t>(std::lround(std::sqrt(area / ratio)));
    if (h < 1 || w < 1 || h >= H || w >= W) continue;
    const auto top = static_cast<int64_t>(rng.below(static_cast<uint64_t>(H - h + 1)));
    const auto left = static_cast<int64_t>(rng.below(static_cast<uint64_t>(W - w + 1)));
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t y = top; y < top + h; ++y) {
        std::memset(image + (c * H + y) * W + left, fill[static_cast<size_t>(c)],
                    static_cast<size_t>(w));
      }
    }
    return;
  }
}

}  // namespace

Batch ImageCollator::allocate(int64_t capacity) const {
  std::vector<int64_t> batch_shape{capacity};
  batch_shape.insert(batch_shape.end(), shape_.begin(), shape_.end());
  Batch batch;
  batch.staging = torch::empty(batch_shape, torch::kUInt8);
  batch.input = torch::empty(batch_shape, torch::kFloat32);
  batch.target = torch::empty({capacity}, torch::kInt64);
  return batch;
}

void ImageCollator::put(Batch& batch, int64_t row, const Example& example, uint64_t sample_seed,
                        int64_t sample_index) const {
  auto check = [&](const at::Tensor& image, const std::string& from) {
    if (image.defined() && image.scalar_type() == torch::kUInt8 &&
        image.sizes() == at::IntArrayRef(shape_) && image.is_contiguous()) {
      return;
    }
    throw DataError(fmt::format("sample {}: {} a contiguous uint8 image [{}], got {} [{}]", sample_index,
                                from, fmt::join(shape_, ", "),
                                image.defined() ? std::string(c10::toString(image.scalar_type())) : "nothing",
                                image.defined() ? fmt::format("{}", fmt::join(image.sizes(), ", ")) : ""));
  };
  at::Tensor src = example.input;
  check(src, "expected");
  Rng rng(sample_seed);
  if (!augment_.custom.empty()) src = src.clone();  // the dataset's own tensor stays untouched
  for (const auto& transform : augment_.custom) {
    src = transform.apply(std::move(src), rng);
    check(src, fmt::format("transform '{}' must return", transform.name));
  }
  const int64_t C = shape_[0], H = shape_[1], W = shape_[2];
  const auto* in = src.data_ptr<uint8_t>();
  auto* out = batch.staging.data_ptr<uint8_t>() + row * C * H * W;
  batch.target.data_ptr<int64_t>()[row] = example.target;

  const int pad = augment_.crop_padding;
  if (pad == 0 && !augment_.horizontal_flip) {
    std::memcpy(out, in, static_cast<size_t>(C * H * W));
  } else {
    crop_and_flip(in, out, rng);
  }
  if (augment_.erasing_probability > 0 && rng.uniform() < augment_.erasing_probability) {
    erase_random_rectangle(out, C, H, W, fill_, rng);
  }
}

void ImageCollator::crop_and_flip(const uint8_t* in, uint8_t* out, Rng& rng) const {
  const int64_t C = shape_[0], H = shape_[1], W = shape_[2];
  const int pad = augment_.crop_padding;
  // Crop offset in the padded image, then flip: out(y, x) = in(y + dy, x' + dx) with x' the
  // (possibly mirrored) column and pixels outside the source reading as zero.
  const int64_t dy = pad ? static_cast<int64_t>(rng.below(2 * pad + 1)) - pad : 0;
  const int64_t dx = pad ? static_cast<int64_t>(rng.below(2 * pad + 1)) - pad : 0;
  const bool flip = augment_.horizontal_flip && rng.coin();
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t y = 0; y < H; ++y) {
      uint8_t* out_row = out + (c * H + y) * W;
      const int64_t sy = y + dy;
      if (sy < 0 || sy >= H) {
        std::memset(out_row, 0, static_cast<size_t>(W));
        continue;
      }
      const uint8_t* in_row = in + (c * H + sy) * W;
      for (int64_t x = 0; x < W; ++x) {
        const int64_t sx = (flip ? W - 1 - x : x) + dx;
        out_row[x] = (sx >= 0 && sx < W) ? in_row[sx] : 0;
      }
    }
  }
}

Batch FeatureCollator::allocate(int64_t capacity) const {
  Batch batch;
  batch.input = torch::empty({capacity, features_}, torch::kFloat32);
  batch.target = torch::empty({capacity}, torch::kInt64);
  return batch;
}

void FeatureCollator::put(Batch& batch, int64_t row, const Example& example, uint64_t,
                          int64_t sample_index) const {
  const at::Tensor& src = example.input;
  if (src.scalar_type() != torch::kFloat32 || src.numel() != features_ || !src.is_contiguous()) {
    throw DataError(fmt::format("sample {}: expected {} float features", sample_index, features_));
  }
  std::memcpy(batch.input.data_ptr<float>() + row * features_, src.data_ptr<float>(),
              static_cast<size_t>(features_) * sizeof(float));
  batch.target.data_ptr<int64_t>()[row] = example.target;
}

void ImageCollator::finish(Batch& batch, int64_t rows) const {
  const int64_t C = shape_[0], plane = shape_[1] * shape_[2];
  const auto* in = batch.staging.data_ptr<uint8_t>();
  auto* out = batch.input.data_ptr<float>();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < C; ++c) {
      const float scale = scale_[c], shift = shift_[c];
      const int64_t offset = (r * C + c) * plane;
      for (int64_t i = 0; i < plane; ++i) {  // vectorised by the compiler
        out[offset + i] = static_cast<float>(in[offset + i]) * scale + shift;
      }
    }
  }
}

}  // namespace trainrt::data
