// defines: Predictor, PredictorOptions
//
// Batched inference on a bundle (infer/bundle.h) from an application, on the CPU or a GPU. One
// Predictor serves any number of threads at once: predict() changes no state (the model is in eval
// mode and runs under inference mode).
//
//   trainrt::infer::Predictor predictor("bundles/fashion");
//   torch::Tensor classes = predictor.classify(images);  // uint8 [N, 1, 28, 28] -> int64 [N]
#pragma once

#include <memory>
#include <string>

#include <torch/torch.h>

#include "trainrt/infer/bundle.h"

namespace trainrt::infer {

struct PredictorOptions {
  // "cpu", "cuda" or "cuda:N".
  std::string device = "cpu";
  // TorchScript bundles: freeze the module and optimize it for inference (torch.jit.freeze and
  // optimize_for_inference: folded batch norm, oneDNN convolutions on the CPU). Built-in models
  // run as they are.
  bool optimize = true;
  // Load the plugins the bundle's config lists (a plugin's model needs its code). Off: a bundle
  // that lists any is refused, naming them, since loading one runs its code in this application
  // (Note [plugins need the application's consent] in core/plugin.h). Set it for bundles you trust.
  bool load_plugins = false;
};

class Predictor {
 public:
  // Reads and checks the bundle and builds its model (infer/bundle.h); throws trainrt::Error
  // naming the bundle's file and what is wrong.
  explicit Predictor(const std::string& bundle_dir, PredictorOptions options = {});
  ~Predictor();

  // The model's outputs (logits) for a batch of prepared inputs [N, input_shape...] (float; token
  // ids for a language model), on the CPU. Throws ConfigError if the shape does not fit.
  torch::Tensor predict(const torch::Tensor& input) const;
  // Images as the data set stores them (uint8 [N, C, H, W]), normalised as training normalised
  // them (the config's data.mean and data.std), then predict().
  torch::Tensor predict_images(const torch::Tensor& images) const;
  // The most likely class of each image: int64 [N].
  torch::Tensor classify(const torch::Tensor& images) const;

  const BundleInfo& bundle() const { return bundle_; }
  // Whether the frozen, inference-optimized TorchScript path runs.
  bool optimized() const;

 private:
  struct Impl;
  BundleInfo bundle_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trainrt::infer
