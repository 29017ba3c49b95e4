// The small CNN: per block a 3x3 convolution (padding 1), optional batch norm, ReLU and 2x2 max
// pooling; then one hidden fully connected layer and the classifier. With the default 32-64
// channels and 128 hidden units it is the "2 conv layers" model of Fashion-MNIST's benchmarks.
#include <fmt/format.h>

#include "trainrt/core/error.h"
#include "trainrt/models/registry.h"

namespace trainrt::models {
namespace {

class Cnn : public Model {
 public:
  Cnn(const config::CnnConfig& config, const ModelSpec& spec) : dropout_(config.dropout()) {
    if (spec.input_shape.size() != 3) {
      throw ConfigError(fmt::format("model 'cnn' needs image samples [C, H, W], got {} dimensions",
                                    spec.input_shape.size()));
    }
    int64_t channels = spec.input_shape[0], height = spec.input_shape[1],
            width = spec.input_shape[2];
    for (int i = 0; i < config.channels_size(); ++i) {
      const std::string n = std::to_string(i + 1);
      convs_.push_back(register_module(
          "conv" + n,
          torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, config.channels(i), 3).padding(1))));
      if (config.batch_norm()) {
        norms_.push_back(register_module("bn" + n, torch::nn::BatchNorm2d(config.channels(i))));
      }
      channels = config.channels(i);
      height /= 2;
      width /= 2;
      if (height < 1 || width < 1) {
        throw ConfigError(fmt::format("model.cnn.channels: {} blocks pool a {}x{} image to nothing",
                                      config.channels_size(), spec.input_shape[1],
                                      spec.input_shape[2]));
      }
    }
    fc_ = register_module("fc", torch::nn::Linear(channels * height * width, config.hidden()));
    classifier_ = register_module("classifier", torch::nn::Linear(config.hidden(), spec.num_outputs));
  }

  torch::Tensor forward(torch::Tensor x) override {
    for (size_t i = 0; i < convs_.size(); ++i) {
      x = convs_[i](x);
      if (!norms_.empty()) x = norms_[i](x);
      x = torch::max_pool2d(torch::relu(x), 2);
    }
    x = torch::relu(fc_(x.flatten(1)));
    if (dropout_ > 0) x = torch::dropout(x, dropout_, is_training());
    return classifier_(x);
  }

 private:
  double dropout_;
  std::vector<torch::nn::Conv2d> convs_;
  std::vector<torch::nn::BatchNorm2d> norms_;
  torch::nn::Linear fc_{nullptr}, classifier_{nullptr};
};

}  // namespace

std::shared_ptr<Model> make_cnn(const config::ModelConfig& config, const ModelSpec& spec) {
  return std::make_shared<Cnn>(config.cnn(), spec);
}

}  // namespace trainrt::models
