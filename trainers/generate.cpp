#include "generate.h"

#include <iostream>

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include "checkpoint_commands.h"
#include "trainrt/ckpt/trainer_checkpoint.h"
#include "trainrt/core/error.h"
#include "trainrt/core/plugin.h"

namespace trainrt::trainers {

std::string generate_text(models::Model& model, int64_t context, const GenerateOptions& options) {
  torch::NoGradGuard no_grad;
  model.eval();
  const auto device = model.parameters().front().device();
  auto generator = at::detail::createCPUGenerator(options.seed);
  std::vector<int64_t> tokens(options.prompt.begin(), options.prompt.end());
  for (auto& t : tokens) t = static_cast<uint8_t>(t);
  if (tokens.empty()) tokens.push_back('\n');  // something to start from
  std::string text = options.prompt;
  for (int64_t i = 0; i < options.tokens; ++i) {
    const auto first = tokens.size() > static_cast<size_t>(context) ? tokens.end() - context : tokens.begin();
    const auto input = torch::tensor(std::vector<int64_t>(first, tokens.end())).unsqueeze(0).to(device);
    auto logits = model.forward(input).select(1, -1).squeeze(0).to(torch::kCPU, torch::kFloat);
    int64_t next = 0;
    if (options.temperature <= 0) {
      next = logits.argmax().item<int64_t>();
    } else {
      logits = logits / options.temperature;
      if (options.top_k > 0 && options.top_k < logits.size(0)) {
        const auto kth = std::get<0>(logits.topk(options.top_k)).min();
        logits = logits.masked_fill(logits < kth, -std::numeric_limits<float>::infinity());
      }
      next = torch::multinomial(torch::softmax(logits, 0), 1, /*replacement=*/false, generator).item<int64_t>();
    }
    tokens.push_back(next);
    text.push_back(static_cast<char>(next));
  }
  return text;
}

int generate_command(const GenerateOptions& options) {
  ckpt::TrainerCheckpoint checkpoint = open_checkpoint(options.checkpoint, /*keep_contents=*/false);
  const std::string config_source = checkpoint.path() + "/" + ckpt::kConfigFile;
  if (checkpoint.config.task() != "language_model") {
    throw ConfigError(fmt::format("{}: task '{}': generate needs a language model's checkpoint",
                                  config_source, checkpoint.config.task()));
  }
  // The model's shape as the checkpoint recorded it: its context, and a byte-level vocabulary.
  const models::ModelSpec& spec = checkpoint.model_spec();
  if (spec.num_outputs != 256) {
    throw ConfigError(fmt::format("{}: data.tokens.vocab_size {}: generate reads and writes byte-level "
                                  "tokens (vocabulary 256)", config_source, spec.num_outputs));
  }
  const std::string weights_source = checkpoint.path() + "/" + ckpt::kModelFile;
  // The checkpoint named on the command line is the user's own: its plugins load, as `trainrt
  // train` loads its config's (Note [plugins need the application's consent]).
  load_listed_plugins({checkpoint.config.plugins().begin(), checkpoint.config.plugins().end()},
                      PluginConsent::kLoad, config_source, "");
  auto model = ckpt::build_trained_model(checkpoint.config, spec, checkpoint.take_file(ckpt::kModelFile),
                                         weights_source);
  std::cout << generate_text(*model, spec.input_shape.front(), options) << std::endl;
  return 0;
}

}  // namespace trainrt::trainers
