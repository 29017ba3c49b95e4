// The multilayer perceptron: flatten, then Linear + ReLU (+ dropout) per hidden layer, then a
// linear classifier.
#include <numeric>

#include "trainrt/models/registry.h"

namespace trainrt::models {
namespace {

class Mlp : public Model {
 public:
  Mlp(const config::MlpConfig& config, const ModelSpec& spec) : dropout_(config.dropout()) {
    int64_t width = std::accumulate(spec.input_shape.begin(), spec.input_shape.end(), int64_t{1},
                                    std::multiplies<>());
    for (int i = 0; i < config.hidden_size(); ++i) {
      hidden_.push_back(register_module("fc" + std::to_string(i + 1),
                                        torch::nn::Linear(width, config.hidden(i))));
      width = config.hidden(i);
    }
    classifier_ = register_module("classifier", torch::nn::Linear(width, spec.num_outputs));
  }

  torch::Tensor forward(torch::Tensor x) override {
    x = x.flatten(1);
    for (auto& layer : hidden_) {
      x = torch::relu(layer(x));
      if (dropout_ > 0) x = torch::dropout(x, dropout_, is_training());
    }
    return classifier_(x);
  }

 private:
  double dropout_;
  std::vector<torch::nn::Linear> hidden_;
  torch::nn::Linear classifier_{nullptr};
};

}  // namespace

std::shared_ptr<Model> make_mlp(const config::ModelConfig& config, const ModelSpec& spec) {
  return std::make_shared<Mlp>(config.mlp(), spec);
}

}  // namespace trainrt::models
