// defines: ImageAugment, ImageCollator, FeatureCollator
//
// Image samples are uint8 [C, H, W]. Augmentations (random crop with zero padding, horizontal flip)
// are applied while copying a sample into its batch row, in one pass over its pixels, then random
// erasing paints a rectangle; the batch is then normalised to float, (x/255 - mean[c]) / std[c], in
// one pass over the whole batch.
#pragma once

#include <vector>

#include "trainrt/core/rng.h"
#include "trainrt/data/batch.h"
#include "trainrt/data/transform_registry.h"

namespace trainrt::data {

struct ImageAugment {
  int crop_padding = 0;          // 0: no random crop
  bool horizontal_flip = false;  // mirror with probability 1/2
  // Probability of erasing a random rectangle (2%-33% of the area, aspect 0.3-3.3, as torchvision's
  // RandomErasing) with the channel's mean, i.e. 0 after normalisation.
  float erasing_probability = 0;
  // Registered transforms (config's data.transforms), applied in order before the above.
  std::vector<NamedTransform> custom;
};

class ImageCollator : public Collator {
 public:
  // `mean` and `std` hold one value per channel or one for all.
  ImageCollator(std::vector<int64_t> sample_shape, std::vector<float> mean, std::vector<float> std,
                ImageAugment augment);

  Batch allocate(int64_t capacity) const override;
  void put(Batch& batch, int64_t row, const Example& example, uint64_t sample_seed,
           int64_t sample_index) const override;
  void finish(Batch& batch, int64_t rows) const override;

 private:
  void crop_and_flip(const uint8_t* in, uint8_t* out, Rng& rng) const;

  std::vector<int64_t> shape_;  // C, H, W
  std::vector<float> scale_;    // per channel: 1 / (255 * std)
  std::vector<float> shift_;    // per channel: -mean / std
  std::vector<uint8_t> fill_;   // per channel: the mean as a pixel value, for erasing
  ImageAugment augment_;
};

// Float feature vectors (e.g. CSV columns) copied as they are into a float [B, F] batch.
class FeatureCollator : public Collator {
 public:
  explicit FeatureCollator(int64_t features) : features_(features) {}
  Batch allocate(int64_t capacity) const override;
  void put(Batch& batch, int64_t row, const Example& example, uint64_t sample_seed,
           int64_t sample_index) const override;
  void finish(Batch&, int64_t) const override {}

 private:
  int64_t features_;
};

}  // namespace trainrt::data
