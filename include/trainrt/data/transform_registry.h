// defines: SampleTransform, NamedTransform, TransformRegistry
//
// Sample transforms an application or plugin registers by name and a config lists in
// data.transforms. Each training image passes through them in order, before the built-in
// augmentation (data/transforms.h).
#pragma once

#include <functional>
#include <string>

#include <ATen/core/Tensor.h>

#include "trainrt/core/named_registry.h"
#include "trainrt/core/rng.h"

namespace trainrt::data {

// Takes one training image (uint8 [C, H, W], the transform's own copy) and returns the image to
// use, of the same shape and type. Randomness must come from `rng` (seeded per sample, epoch and
// run seed), so that a run repeats and resumes exactly. Called from several loader threads at once.
using SampleTransform = std::function<at::Tensor(at::Tensor image, Rng& rng)>;

struct NamedTransform {
  std::string name;  // for errors
  SampleTransform apply;
};

class TransformRegistry {
 public:
  static TransformRegistry& instance();
  NamedRegistry<SampleTransform>& transforms() { return transforms_; }

 private:
  TransformRegistry() = default;
  NamedRegistry<SampleTransform> transforms_{"sample transform"};
};

}  // namespace trainrt::data
