#include "generate.h"

#include <iostream>

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include "trainrt/ckpt/catalog.h"
#include "trainrt/ckpt/state_dict.h"
#include "trainrt/config/load.h"
#include "trainrt/core/error.h"
#include "trainrt/models/registry.h"
#include "trainrt/train/checkpoint_state.h"

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
  std::vector<std::string> skipped;
  const ckpt::CheckpointInfo checkpoint = ckpt::resolve_checkpoint(options.checkpoint, &skipped);
  for (const auto& broken : skipped) std::cerr << "trainrt: skipped broken checkpoint " << broken << "\n";
  const std::string config_source = checkpoint.path + "/" + train::kConfigFile;
  const auto config = config::parse_config_text(ckpt::read_checkpoint_file(checkpoint, train::kConfigFile),
                                                config_source);
  if (config.task() != "language_model") {
    throw ConfigError(fmt::format("{}: task '{}': generate needs a language model's checkpoint",
                                  config_source, config.task()));
  }
  if (config.data().tokens().vocab_size() != 256) {
    throw ConfigError(fmt::format("{}: data.tokens.vocab_size {}: generate reads and writes byte-level "
                                  "tokens (vocabulary 256)", config_source, config.data().tokens().vocab_size()));
  }
  models::ModelSpec spec;
  const int64_t context = config.model().gpt().context();
  spec.input_shape = {context};
  spec.num_outputs = config.data().tokens().vocab_size();
  spec.input_dtype = torch::kLong;
  auto model = models::ModelRegistry::instance().create(config.model(), spec);
  ckpt::load_model_state(*model, ckpt::read_checkpoint_file(checkpoint, train::kModelFile),
                         checkpoint.path + "/" + train::kModelFile);
  std::cout << generate_text(*model, context, options) << std::endl;
  return 0;
}

}  // namespace trainrt::trainers
