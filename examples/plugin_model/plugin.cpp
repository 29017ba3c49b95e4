// A trainrt plugin: registers the model "gated_mlp" (a multilayer perceptron with a learned gate
// on its hidden units) and the sample transform "invert" (a photographic negative of one image in
// two). trainrt loads it with `--plugin ./libplugin_model.so` or the config's `plugins` list, and
// a bundle exported from such a run loads it again for inference.
#include <trainrt/plugin.h>

namespace {

class GatedMlp : public trainrt::models::Model {
 public:
  GatedMlp(int64_t inputs, int64_t hidden, int64_t outputs)
      : hidden_(register_module("hidden", torch::nn::Linear(inputs, hidden))),
        gate_(register_module("gate", torch::nn::Linear(inputs, hidden))),
        out_(register_module("out", torch::nn::Linear(hidden, outputs))) {}

  torch::Tensor forward(torch::Tensor input) override {
    const torch::Tensor x = input.flatten(1);
    return out_(torch::relu(hidden_(x)) * torch::sigmoid(gate_(x)));
  }

 private:
  torch::nn::Linear hidden_, gate_, out_;
};

std::shared_ptr<trainrt::models::Model> make_gated_mlp(const trainrt::config::ModelConfig& config,
                                                       const trainrt::models::ModelSpec& spec) {
  int64_t inputs = 1;
  for (const int64_t size : spec.input_shape) inputs *= size;
  // The width comes from the config's mlp section: plugins reuse the schema's fields.
  const int64_t hidden = config.mlp().hidden_size() > 0 ? config.mlp().hidden(0) : 128;
  return std::make_shared<GatedMlp>(inputs, hidden, spec.num_outputs);
}

// Randomness only from `rng`: the same run repeats and resumes exactly.
at::Tensor invert_half_the_time(at::Tensor image, trainrt::Rng& rng) {
  if (rng.coin()) image = 255 - image;
  return image;
}

}  // namespace

TRAINRT_PLUGIN() {
  trainrt::models::ModelRegistry::instance().add("gated_mlp", make_gated_mlp);
  trainrt::data::TransformRegistry::instance().transforms().add("invert", invert_half_the_time);
}
