// defines: TorchScriptModel
//
// A module scripted in Python (`torch.jit.script(model).save(path)`) trained as a trainrt model
// (config's model.name "torchscript", model.torchscript.path). Its parameters and buffers are
// registered under their Python names ("features.0.weight"), the very tensors the script module
// holds, so the optimizer, the gradient reducer, checkpoints and device moves act on the module
// itself; save() writes it back, trained, for `torch.jit.load`.
#pragma once

#include <string>

#include <torch/script.h>

#include "trainrt/models/model.h"

namespace trainrt::models {

class TorchScriptModel : public Model {
 public:
  // `source` names the module's file in errors.
  TorchScriptModel(torch::jit::Module module, std::string source);

  // The module's forward(input); an output that is not one tensor is an error naming the file.
  torch::Tensor forward(torch::Tensor input) override;
  void train(bool on = true) override;

  // The module with its current parameters, saved for `torch.jit.load`.
  void save(const std::string& path) const;
  const torch::jit::Module& module() const { return module_; }

 private:
  torch::jit::Module module_;
  std::string source_;
};

// The module in `path`; a missing or unreadable file is a ConfigError naming it.
std::shared_ptr<TorchScriptModel> load_torchscript_model(const std::string& path);

}  // namespace trainrt::models
