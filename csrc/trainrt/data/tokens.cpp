#include "trainrt/data/tokens.h"

#include <cstring>

#include <fmt/format.h>
#include <torch/torch.h>

#include "trainrt/core/error.h"

namespace trainrt::data {
namespace {

// Little-endian token `i` (x86 and Arm are both little-endian; memcpy avoids unaligned reads).
int64_t token_at(const uint8_t* data, int token_bytes, int64_t i) {
  if (token_bytes == 2) {
    uint16_t t;
    std::memcpy(&t, data + 2 * i, 2);
    return t;
  }
  uint32_t t;
  std::memcpy(&t, data + 4 * i, 4);
  return t;
}

}  // namespace

TokenWindowDataset::TokenWindowDataset(const std::string& path, int token_bytes, int64_t context,
                                       int64_t vocab_size)
    : file_(std::make_shared<MappedFile>(path)), token_bytes_(token_bytes), context_(context) {
  if (token_bytes != 2 && token_bytes != 4) {
    throw DataError(fmt::format("'{}': tokens must be 2 (uint16) or 4 (uint32) bytes, not {}",
                                path, token_bytes));
  }
  if (file_->size() % static_cast<size_t>(token_bytes) != 0) {
    throw DataError(fmt::format("'{}': {} bytes is not a whole number of {}-byte tokens "
                                "(truncated file, or the wrong token width)",
                                path, file_->size(), token_bytes));
  }
  tokens_ = static_cast<int64_t>(file_->size()) / token_bytes;
  if (context < 1 || tokens_ < context + 1) {
    throw DataError(fmt::format("'{}': {} tokens, too few for one window of context {} + 1", path,
                                tokens_, context));
  }
  windows_ = (tokens_ - 1) / context;
  if (vocab_size > 0) {
    for (int64_t i = 0; i < tokens_; ++i) {
      const int64_t t = token_at(file_->data(), token_bytes, i);
      if (t >= vocab_size) {
        throw DataError(fmt::format("'{}': token {} at position {} is outside the vocabulary "
                                    "0..{}", path, t, i, vocab_size - 1));
      }
    }
  }
}

Example TokenWindowDataset::get(int64_t index) const {
  at::Tensor window = torch::empty({context_ + 1}, torch::kInt64);
  auto* out = window.data_ptr<int64_t>();
  const int64_t first = index * context_;
  for (int64_t i = 0; i <= context_; ++i) out[i] = token_at(file_->data(), token_bytes_, first + i);
  return {window, 0};
}

Batch TokenCollator::allocate(int64_t capacity) const {
  Batch batch;
  batch.input = torch::empty({capacity, context_}, torch::kInt64);
  batch.target = torch::empty({capacity, context_}, torch::kInt64);
  return batch;
}

void TokenCollator::put(Batch& batch, int64_t row, const Example& example, uint64_t,
                        int64_t sample_index) const {
  if (example.input.scalar_type() != torch::kInt64 || example.input.numel() != context_ + 1) {
    throw DataError(fmt::format("sample {}: expected an int64 window of {} tokens", sample_index,
                                context_ + 1));
  }
  const auto* window = example.input.data_ptr<int64_t>();
  const auto bytes = static_cast<size_t>(context_) * sizeof(int64_t);
  std::memcpy(batch.input.data_ptr<int64_t>() + row * context_, window, bytes);
  std::memcpy(batch.target.data_ptr<int64_t>() + row * context_, window + 1, bytes);
}

}  // namespace trainrt::data
