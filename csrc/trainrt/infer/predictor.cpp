#include "trainrt/infer/predictor.h"

#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/script.h>

#include "trainrt/core/error.h"
#include "trainrt/models/torchscript.h"
#include "trainrt/tasks/image_classification.h"

namespace trainrt::infer {

struct Predictor::Impl {
  torch::Device device = torch::kCPU;
  std::shared_ptr<models::Model> model;           // built-in (or plugin) models
  std::optional<torch::jit::Module> optimized;    // a TorchScript bundle, frozen and optimized
  std::shared_ptr<const data::Collator> prepare;  // images: the evaluation's normalisation
};

Predictor::Predictor(const std::string& bundle_dir, PredictorOptions options)
    : bundle_(read_bundle(bundle_dir)), impl_(std::make_unique<Impl>()) {
  try {
    impl_->device = torch::Device(options.device);
  } catch (const c10::Error&) {
    throw ConfigError(fmt::format("predictor device '{}': not a device (cpu, cuda, cuda:N)", options.device));
  }
  if (impl_->device.is_cuda() && !torch::cuda::is_available()) {
    throw ConfigError(fmt::format("predictor device '{}': this LibTorch has no CUDA or sees no GPU", options.device));
  }
  impl_->model = load_bundle_model(bundle_, options.load_plugins ? PluginConsent::kLoad : PluginConsent::kRefuse);
  impl_->model->to(impl_->device);
  if (auto* script = dynamic_cast<models::TorchScriptModel*>(impl_->model.get()); script && options.optimize) {
    torch::jit::Module module = script->module().clone();
    module.eval();
    torch::jit::Module frozen = torch::jit::freeze(module);
    impl_->optimized = torch::jit::optimize_for_inference(frozen);
  }
  if (bundle_.config.task() == "image_classification") {
    impl_->prepare = tasks::make_eval_collator(bundle_.config.data(), bundle_.spec.input_shape);
  }
}

Predictor::~Predictor() = default;

bool Predictor::optimized() const { return impl_->optimized.has_value(); }

torch::Tensor Predictor::predict(const torch::Tensor& input) const {
  const auto& shape = bundle_.spec.input_shape;
  if (input.dim() != static_cast<int64_t>(shape.size()) + 1 ||
      input.sizes().slice(1) != at::IntArrayRef(shape)) {
    throw ConfigError(fmt::format("predict: input [{}] does not fit the model's [N, {}]",
                                  fmt::join(input.sizes(), ", "), fmt::join(shape, ", ")));
  }
  c10::InferenceMode inference;
  const torch::Tensor on_device = input.to(impl_->device, bundle_.spec.input_dtype);
  torch::Tensor output = impl_->optimized ? impl_->optimized->forward({on_device}).toTensor()
                                          : impl_->model->forward(on_device);
  return output.to(torch::kCPU);
}

torch::Tensor Predictor::predict_images(const torch::Tensor& images) const {
  if (!impl_->prepare || bundle_.spec.input_shape.size() != 3) {
    throw ConfigError(fmt::format("predict_images: the bundle's model (task {}) does not take images",
                                  bundle_.config.task()));
  }
  if (images.dim() != 4 || images.scalar_type() != torch::kUInt8) {
    throw ConfigError(fmt::format("predict_images: expected uint8 images [N, {}], got {} [{}]",
                                  fmt::join(bundle_.spec.input_shape, ", "), c10::toString(images.scalar_type()),
                                  fmt::join(images.sizes(), ", ")));
  }
  // The evaluation's own collator: the same arithmetic, so the same predictions as its accuracy.
  const int64_t rows = images.size(0);
  data::Batch batch = impl_->prepare->allocate(rows);
  const torch::Tensor contiguous = images.contiguous();
  for (int64_t row = 0; row < rows; ++row) {
    impl_->prepare->put(batch, row, data::Example{contiguous[row], 0}, /*sample_seed=*/0, row);
  }
  impl_->prepare->finish(batch, rows);
  return predict(batch.input.slice(0, 0, rows));
}

torch::Tensor Predictor::classify(const torch::Tensor& images) const { return predict_images(images).argmax(1); }

}  // namespace trainrt::infer
