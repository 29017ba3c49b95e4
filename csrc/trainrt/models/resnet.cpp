// A small ResNet for 28x28 / 32x32 images (He et al.'s CIFAR variant): a 3x3 stem, stages of basic
// blocks (two 3x3 convolutions with batch norm and an identity or 1x1 shortcut), each stage after
// the first halving the resolution and doubling the channels, global average pooling, a classifier.
#include <fmt/format.h>

#include "trainrt/core/error.h"
#include "trainrt/models/registry.h"

namespace trainrt::models {
namespace {

torch::nn::Conv2d conv3x3(int64_t in, int64_t out, int64_t stride) {
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false));
}

class BasicBlockImpl : public torch::nn::Module {
 public:
  BasicBlockImpl(int64_t in, int64_t out, int64_t stride)
      : conv1_(register_module("conv1", conv3x3(in, out, stride))),
        bn1_(register_module("bn1", torch::nn::BatchNorm2d(out))),
        conv2_(register_module("conv2", conv3x3(out, out, 1))),
        bn2_(register_module("bn2", torch::nn::BatchNorm2d(out))) {
    if (stride != 1 || in != out) {
      shortcut_ = register_module(
          "shortcut",
          torch::nn::Sequential(
              torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1).stride(stride).bias(false)),
              torch::nn::BatchNorm2d(out)));
    }
  }

  torch::Tensor forward(torch::Tensor x) {
    torch::Tensor y = torch::relu(bn1_(conv1_(x)));
    y = bn2_(conv2_(y));
    return torch::relu(y + (shortcut_ ? shortcut_->forward(x) : x));
  }

 private:
  torch::nn::Conv2d conv1_;
  torch::nn::BatchNorm2d bn1_;
  torch::nn::Conv2d conv2_;
  torch::nn::BatchNorm2d bn2_;
  torch::nn::Sequential shortcut_{nullptr};
};
TORCH_MODULE(BasicBlock);

class ResNet : public Model {
 public:
  ResNet(const config::ResNetConfig& config, const ModelSpec& spec) {
    if (spec.input_shape.size() != 3) {
      throw ConfigError(fmt::format("model 'resnet' needs image samples [C, H, W], got {} "
                                    "dimensions", spec.input_shape.size()));
    }
    int64_t channels = config.width();
    stem_ = register_module("stem", conv3x3(spec.input_shape[0], channels, 1));
    stem_bn_ = register_module("stem_bn", torch::nn::BatchNorm2d(channels));
    blocks_ = register_module("blocks", torch::nn::Sequential());
    int64_t in = channels;
    for (int stage = 0; stage < config.blocks_size(); ++stage) {
      const int64_t out = config.width() << stage;
      for (int b = 0; b < config.blocks(stage); ++b) {
        const int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
        blocks_->push_back(BasicBlock(in, out, stride));
        in = out;
      }
    }
    classifier_ = register_module("classifier", torch::nn::Linear(in, spec.num_outputs));
  }

  torch::Tensor forward(torch::Tensor x) override {
    x = torch::relu(stem_bn_(stem_(x)));
    x = blocks_->forward(x);
    x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    return classifier_(x);
  }

 private:
  torch::nn::Conv2d stem_{nullptr};
  torch::nn::BatchNorm2d stem_bn_{nullptr};
  torch::nn::Sequential blocks_{nullptr};
  torch::nn::Linear classifier_{nullptr};
};

}  // namespace

std::shared_ptr<Model> make_resnet(const config::ModelConfig& config, const ModelSpec& spec) {
  return std::make_shared<ResNet>(config.resnet(), spec);
}

}  // namespace trainrt::models
