// A plugin for the tests: registers the models "test_linear" (one linear layer) and
// "test_nan_on_marked_rows" (the same, answering NaN for a row whose first feature is over 1e5: a
// NaN loss and NaN gradients on exactly the batches holding such a row), and the data format
// "test_stripes" (synthetic images whose class is the row of their one bright stripe).
#include <trainrt/plugin.h>

namespace {

class Linear : public trainrt::models::Model {
 public:
  Linear(int64_t inputs, int64_t outputs) : fc_(register_module("fc", torch::nn::Linear(inputs, outputs))) {}
  torch::Tensor forward(torch::Tensor input) override { return fc_(input.flatten(1)); }

 private:
  torch::nn::Linear fc_;
};

class NanOnMarkedRows : public Linear {
 public:
  using Linear::Linear;
  torch::Tensor forward(torch::Tensor input) override {
    const auto marked = (input.flatten(1).select(1, 0) > 1e5).unsqueeze(1);
    return Linear::forward(input) + torch::where(marked, std::nan(""), 0.0);
  }
};

template <class M>
std::shared_ptr<trainrt::models::Model> make_linear(const trainrt::config::ModelConfig&,
                                                     const trainrt::models::ModelSpec& spec) {
  int64_t inputs = 1;
  for (const int64_t size : spec.input_shape) inputs *= size;
  return std::make_shared<M>(inputs, spec.num_outputs);
}

class Stripes : public trainrt::data::Dataset {
 public:
  explicit Stripes(int64_t size) : size_(size) {}
  int64_t size() const override { return size_; }
  trainrt::data::Example get(int64_t index) const override {
    auto image = torch::zeros({1, 8, 8}, torch::kUInt8);
    const int64_t label = index % 4;
    image.select(1, 2 * label).fill_(255);
    return {image, label};
  }

 private:
  int64_t size_;
};

}  // namespace

TRAINRT_PLUGIN() {
  trainrt::models::ModelRegistry::instance().add("test_linear", make_linear<Linear>);
  trainrt::models::ModelRegistry::instance().add("test_nan_on_marked_rows", make_linear<NanOnMarkedRows>);
  trainrt::data::DatasetRegistry::instance().formats().add(
      "test_stripes", [](const trainrt::config::DataConfig&, bool train) {
        return trainrt::data::CustomSplit{std::make_shared<Stripes>(train ? 256 : 64), {1, 8, 8}, 4};
      });
}
