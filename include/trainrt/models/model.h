// defines: Model, ModelSpec
//
// A model is a LibTorch module with one tensor in and one tensor out (logits for classifiers).
// Built-in models live beside this file; applications and plugins add their own through the
// registry (models/registry.h).
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace trainrt::models {

// What the data dictates about a model: the shape of one input sample and the number of outputs.
struct ModelSpec {
  std::vector<int64_t> input_shape;  // e.g. {1, 28, 28}
  int64_t num_outputs = 0;           // e.g. 10 classes
  torch::Dtype input_dtype = torch::kFloat;  // torch::kLong for token ids
};

class Model : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(torch::Tensor input) = 0;
};

}  // namespace trainrt::models
