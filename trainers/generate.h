// defines: GenerateOptions, generate_text, generate_command
//
// Sampling text from a trained language model (config task "language_model", byte-level tokens):
//   trainrt generate --checkpoint PATH --prompt TEXT [--tokens N --temperature T --top-k K --seed S]
// PATH is a checkpoint or a run directory (its newest whole checkpoint); the model is rebuilt from
// the config and the model's shape saved beside its weights (ckpt/trainer_checkpoint.h; the
// config's plugins loaded). Each new token is drawn from the softmax of the last
// position's logits / temperature, over the top-k tokens (0: all); temperature 0 takes the most
// likely token. The same seed gives the same text.
#pragma once

#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "trainrt/models/model.h"

namespace trainrt::trainers {

struct GenerateOptions {
  std::string checkpoint;
  std::string prompt;
  int64_t tokens = 200;
  double temperature = 0.8;
  int64_t top_k = 40;
  uint64_t seed = 0;
};

// `prompt`'s bytes followed by `options.tokens` sampled ones; the model sees its last `context`
// tokens. Deterministic for a seed (the draws use a generator of their own, on the CPU).
std::string generate_text(models::Model& model, int64_t context, const GenerateOptions& options);

// Loads the checkpoint's model, prints the prompt and the generated text; returns the exit code.
// Throws trainrt::Error naming the checkpoint if it is not a byte-level language model's (or does
// not record the model's shape).
int generate_command(const GenerateOptions& options);

}  // namespace trainrt::trainers
