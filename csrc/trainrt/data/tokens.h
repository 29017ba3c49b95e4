// defines: TokenWindowDataset, TokenCollator
//
// Token streams for language models: a flat file of little-endian uint16 or uint32 token ids
// (memory-mapped), cut into consecutive windows of `context + 1` tokens. The collator turns a
// window into an input (its first `context` tokens) and a target (the same shifted by one).
#pragma once

#include <memory>
#include <string>

#include "trainrt/data/batch.h"
#include "trainrt/data/dataset.h"
#include "trainrt/data/mapped_file.h"

namespace trainrt::data {

class TokenWindowDataset : public Dataset {
 public:
  // `token_bytes` is 2 (uint16) or 4 (uint32). Throws trainrt::Error naming the file if its size
  // is not a whole number of tokens or it holds fewer than context + 1 tokens, or (vocab_size > 0)
  // a token is outside the vocabulary (naming its position).
  TokenWindowDataset(const std::string& path, int token_bytes, int64_t context, int64_t vocab_size);
  int64_t size() const override { return windows_; }
  // int64 [context + 1]: tokens [index * context, index * context + context].
  Example get(int64_t index) const override;
  int64_t tokens() const { return tokens_; }

 private:
  std::shared_ptr<MappedFile> file_;
  int token_bytes_;
  int64_t context_;
  int64_t tokens_ = 0;
  int64_t windows_ = 0;
};

class TokenCollator : public Collator {
 public:
  explicit TokenCollator(int64_t context) : context_(context) {}
  Batch allocate(int64_t capacity) const override;
  void put(Batch& batch, int64_t row, const Example& example, uint64_t sample_seed,
           int64_t sample_index) const override;
  void finish(Batch&, int64_t) const override {}

 private:
  int64_t context_;
};

}  // namespace trainrt::data
