#include "trainrt/models/torchscript.h"

#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "trainrt/core/error.h"
#include "trainrt/models/registry.h"

namespace trainrt::models {
namespace {

// What a LibTorch error says, without its backtrace: the first line, or for an error raised inside
// a TorchScript interpreter (whose message starts with the script's traceback) the Python-style
// "SomeError: ..." line at its end.
std::string first_line(const std::string& what) {
  const size_t raised = what.rfind("Error: ");
  if (what.rfind("The following operation failed in the TorchScript interpreter", 0) == 0 &&
      raised != std::string::npos) {
    const size_t start = what.rfind('\n', raised) + 1;  // npos + 1 == 0: the first line
    return what.substr(start, what.find('\n', raised) - start);
  }
  return what.substr(0, what.find('\n'));
}

// Registers `from`'s own parameters and buffers on `to`, and a holder module per submodule, so
// that `to.named_parameters()` lists the script module's tensors under their Python names.
void mirror(const torch::jit::Module& from, torch::nn::Module& to) {
  for (const auto& parameter : from.named_parameters(/*recurse=*/false)) {
    to.register_parameter(parameter.name, parameter.value, parameter.value.requires_grad());
  }
  for (const auto& buffer : from.named_buffers(/*recurse=*/false)) {
    to.register_buffer(buffer.name, buffer.value);
  }
  for (const auto& child : from.named_children()) {
    auto holder = std::make_shared<torch::nn::Module>(child.name);
    mirror(child.value, *holder);
    to.register_module(child.name, holder);
  }
}

}  // namespace

TorchScriptModel::TorchScriptModel(torch::jit::Module module, std::string source)
    : module_(std::move(module)), source_(std::move(source)) {
  mirror(module_, *this);
}

torch::Tensor TorchScriptModel::forward(torch::Tensor input) {
  const c10::IValue output = module_.forward({std::move(input)});
  if (!output.isTensor()) {
    throw ConfigError(fmt::format("model.torchscript.path: {}: forward returned a {}, not one tensor of "
                                  "logits", source_, output.tagKind()));
  }
  return output.toTensor();
}

void TorchScriptModel::train(bool on) {
  torch::nn::Module::train(on);
  module_.train(on);
}

void TorchScriptModel::save(const std::string& path) const {
  try {
    module_.save(path);
  } catch (const c10::Error& e) {
    throw IoError(fmt::format("{}: cannot save the TorchScript module: {}", path, first_line(e.what())));
  }
}

std::shared_ptr<TorchScriptModel> load_torchscript_model(const std::string& path) {
  if (path.empty()) throw ConfigError("model.torchscript.path: empty; name the module's file");
  if (!std::filesystem::is_regular_file(path)) {
    throw ConfigError(fmt::format("model.torchscript.path: {}: no such file", path));
  }
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, torch::kCPU);
  } catch (const c10::Error& e) {
    throw ConfigError(fmt::format("model.torchscript.path: {}: not a TorchScript module "
                                  "(torch.jit.script(model).save(path) writes one): {}",
                                  path, first_line(e.what())));
  }
  return std::make_shared<TorchScriptModel>(std::move(module), path);
}

std::shared_ptr<Model> make_torchscript(const config::ModelConfig& config, const ModelSpec& spec) {
  const std::string& path = config.torchscript().path();
  auto model = load_torchscript_model(path);
  // A probe batch of two samples shows now, naming the file, what would otherwise fail inside the
  // loss: an output that does not fit the task.
  std::vector<int64_t> probe_shape{2};
  probe_shape.insert(probe_shape.end(), spec.input_shape.begin(), spec.input_shape.end());
  torch::Tensor output;
  {
    torch::NoGradGuard no_grad;
    model->eval();
    try {
      output = model->forward(torch::zeros(probe_shape, torch::TensorOptions().dtype(spec.input_dtype)));
    } catch (const std::exception& e) {  // c10::Error, or torch::jit::JITException from the script
      throw ConfigError(fmt::format("model.torchscript.path: {}: forward fails on a batch of the data's "
                                    "shape [{}] ({}): {}", path, fmt::join(probe_shape, ", "),
                                    c10::toString(spec.input_dtype), first_line(e.what())));
    }
    model->train();
  }
  if (output.dim() < 2 || output.size(0) != 2 || output.size(-1) != spec.num_outputs ||
      !output.is_floating_point()) {
    throw ConfigError(fmt::format("model.torchscript.path: {}: forward on a [{}] batch returned {} [{}]; the "
                                  "task needs floating-point logits [2, ..., {}]", path,
                                  fmt::join(probe_shape, ", "), c10::toString(output.scalar_type()),
                                  fmt::join(output.sizes(), ", "), spec.num_outputs));
  }
  return model;
}

}  // namespace trainrt::models
