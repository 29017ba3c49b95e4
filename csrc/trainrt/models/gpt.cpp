// A GPT-style decoder (Radford et al.'s GPT-2 layout): token and position embeddings, pre-norm
// blocks of causal multi-head self-attention and a 4x-wide GELU MLP, each added back to the
// residual stream, a final layer norm, and logits through the token embedding's own matrix
// (weight tying: one parameter, not a copy). GPT-2's initialisation: normal(0, 0.02) weights, zero
// biases, the residual projections scaled by 1/sqrt(2 x layers).
//
// In:  int64 token ids [batch, T] with T <= context.  Out: logits [batch, T, vocabulary].
#include <cmath>

#include <fmt/format.h>
#include <torch/version.h>

#include "trainrt/core/error.h"
#include "trainrt/models/registry.h"

namespace trainrt::models {
namespace {

// softmax(q k^T / sqrt(d) + causal mask) v over [batch, heads, T, head width]. LibTorch 2 has a
// fused kernel (flash or memory-efficient attention where the device has one); 1.13 has not.
torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               double dropout) {
#if TORCH_VERSION_MAJOR >= 2
  return at::scaled_dot_product_attention(q, k, v, /*attn_mask=*/{}, dropout, /*is_causal=*/true);
#else
  const int64_t t = q.size(-2);
  auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(q.size(-1)));
  const auto ahead = torch::ones({t, t}, torch::TensorOptions(torch::kBool).device(q.device())).triu(1);
  auto weights = torch::softmax(scores.masked_fill(ahead, -std::numeric_limits<float>::infinity()), -1);
  if (dropout > 0) weights = torch::dropout(weights, dropout, /*train=*/true);
  return torch::matmul(weights, v);
#endif
}

class CausalSelfAttentionImpl : public torch::nn::Module {
 public:
  CausalSelfAttentionImpl(int64_t width, int64_t heads, double dropout)
      : heads_(heads), dropout_(dropout),
        qkv_(register_module("qkv", torch::nn::Linear(width, 3 * width))),
        proj_(register_module("proj", torch::nn::Linear(width, width))) {}

  torch::Tensor forward(const torch::Tensor& x) {
    const int64_t batch = x.size(0), t = x.size(1), width = x.size(2);
    // [batch, T, 3 x width] -> q, k, v of [batch, heads, T, head width]
    auto qkv = qkv_(x).view({batch, t, 3, heads_, width / heads_}).permute({2, 0, 3, 1, 4});
    auto y = causal_attention(qkv[0], qkv[1], qkv[2], is_training() ? dropout_ : 0.0);
    y = y.transpose(1, 2).contiguous().view({batch, t, width});
    return torch::dropout(proj_(y), dropout_, is_training());
  }

  torch::nn::Linear& proj() { return proj_; }

 private:
  int64_t heads_;
  double dropout_;
  torch::nn::Linear qkv_, proj_;
};
TORCH_MODULE(CausalSelfAttention);

class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(int64_t width, int64_t heads, double dropout)
      : dropout_(dropout),
        ln1_(register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})))),
        attn_(register_module("attn", CausalSelfAttention(width, heads, dropout))),
        ln2_(register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})))),
        fc_(register_module("fc", torch::nn::Linear(width, 4 * width))),
        proj_(register_module("proj", torch::nn::Linear(4 * width, width))) {}

  torch::Tensor forward(torch::Tensor x) {
    x = x + attn_(ln1_(x));
    const auto hidden = torch::gelu(fc_(ln2_(x)));
    return x + torch::dropout(proj_(hidden), dropout_, is_training());
  }

  // The two projections that write into the residual stream.
  std::vector<torch::Tensor> residual_projections() { return {attn_->proj()->weight, proj_->weight}; }

 private:
  double dropout_;
  torch::nn::LayerNorm ln1_;
  CausalSelfAttention attn_;
  torch::nn::LayerNorm ln2_;
  torch::nn::Linear fc_, proj_;
};
TORCH_MODULE(Block);

class Gpt : public Model {
 public:
  Gpt(const config::GptConfig& config, const ModelSpec& spec)
      : context_(config.context()), dropout_(config.dropout()) {
    if (spec.num_outputs < 1) {
      throw ConfigError("model 'gpt' needs a vocabulary (data.tokens.vocab_size)");
    }
    const int64_t width = config.width();
    wte_ = register_module("wte", torch::nn::Embedding(spec.num_outputs, width));
    wpe_ = register_module("wpe", torch::nn::Embedding(context_, width));
    blocks_ = register_module("blocks", torch::nn::ModuleList());
    for (int i = 0; i < config.layers(); ++i) {
      blocks_->push_back(Block(width, config.heads(), config.dropout()));
    }
    ln_f_ = register_module("ln_f", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
    initialise(config.layers());
  }

  torch::Tensor forward(torch::Tensor tokens) override {
    const int64_t t = tokens.size(1);
    if (t > context_) {
      throw DataError(fmt::format("model 'gpt': {} tokens in, but its context is {}", t, context_));
    }
    const auto positions = torch::arange(t, torch::TensorOptions(torch::kInt64).device(tokens.device()));
    auto x = torch::dropout(wte_(tokens) + wpe_(positions), dropout_, is_training());
    for (const auto& block : *blocks_) x = block->as<Block>()->forward(x);
    return torch::nn::functional::linear(ln_f_(x), wte_->weight);  // tied to the embedding
  }

 private:
  void initialise(int layers) {
    torch::NoGradGuard no_grad;
    for (auto& module : modules(/*include_self=*/false)) {
      if (auto* linear = module->as<torch::nn::Linear>()) {
        linear->weight.normal_(0.0, 0.02);
        if (linear->bias.defined()) linear->bias.zero_();
      } else if (auto* embedding = module->as<torch::nn::Embedding>()) {
        embedding->weight.normal_(0.0, 0.02);
      }
    }
    for (const auto& block : *blocks_) {
      for (auto& weight : block->as<Block>()->residual_projections()) {
        weight.normal_(0.0, 0.02 / std::sqrt(2.0 * layers));
      }
    }
  }

  int64_t context_;
  double dropout_;
  torch::nn::Embedding wte_{nullptr}, wpe_{nullptr};
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::LayerNorm ln_f_{nullptr};
};

}  // namespace

std::shared_ptr<Model> make_gpt(const config::ModelConfig& config, const ModelSpec& spec) {
  return std::make_shared<Gpt>(config.gpt(), spec);
}

}  // namespace trainrt::models
