#include "trainrt/data/records.h"

#include <cstdint>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "trainrt/core/error.h"

namespace trainrt::data {

int64_t RecordLayout::record_bytes(const std::string& path) const {
  // Checked at each step: a product that wrapped around (four dimensions of 2^24 make 2^96) divided
  // the file's size by 0 (SIGFPE), or made every byte a record whose view reached past the file.
  int64_t sample = 1;
  bool overflow = false;
  for (size_t i = 0; i < sample_shape.size(); ++i) {
    if (sample_shape[i] < 1) {
      throw DataError(fmt::format("'{}': data.records.shape [{}]: dimension {} is {}; each must be at least 1",
                                  path, fmt::join(sample_shape, ", "), i, sample_shape[i]));
    }
    overflow = overflow || __builtin_mul_overflow(sample, sample_shape[i], &sample);
  }
  int64_t bytes = 0;
  if (overflow || __builtin_add_overflow(label_bytes, sample, &bytes)) {
    throw DataError(fmt::format("'{}': data.records.shape [{}] makes records of more than {} bytes (the "
                                "product of its dimensions); no file holds one",
                                path, fmt::join(sample_shape, ", "), INT64_MAX));
  }
  return bytes;
}

RecordDataset::RecordDataset(const std::string& path, RecordLayout layout, int64_t num_classes)
    : file_(std::make_shared<MappedFile>(path)), layout_(std::move(layout)) {
  if (layout_.label_bytes != 0 && layout_.label_bytes != 1) {
    throw DataError(fmt::format("'{}': label_bytes must be 0 or 1, not {}", path, layout_.label_bytes));
  }
  const auto total = static_cast<int64_t>(file_->size());
  record_bytes_ = layout_.record_bytes(path);
  const int64_t record = record_bytes_;
  if (total < layout_.header_bytes) {
    throw DataError(fmt::format("'{}': {} bytes, shorter than its {}-byte header", path, total,
                                layout_.header_bytes));
  }
  const int64_t body = total - layout_.header_bytes;
  if (body % record != 0) {
    throw DataError(fmt::format("'{}': {} bytes of records is not a multiple of the {}-byte record "
                                "(record {} is cut short: truncated file or wrong layout)",
                                path, body, record, body / record));
  }
  size_ = body / record;
  if (layout_.label_bytes == 1) {
    const uint8_t* base = file_->data() + layout_.header_bytes;
    for (int64_t i = 0; i < size_; ++i) {
      const int64_t label = base[i * record];
      if (num_classes > 0 && label >= num_classes) {
        throw DataError(fmt::format("'{}': record {} has label {}, outside 0..{}", path, i, label,
                                    num_classes - 1));
      }
      label_count_ = std::max(label_count_, label + 1);
    }
  } else if (size_ > 0) {
    label_count_ = 1;
  }
}

Example RecordDataset::get(int64_t index) const {
  const uint8_t* record = file_->data() + layout_.header_bytes + index * record_bytes_;
  const int64_t label = layout_.label_bytes ? record[0] : 0;
  // A view into the mapping; the deleter keeps the file mapped while the view lives.
  auto keep_alive = file_;
  at::Tensor sample = torch::from_blob(const_cast<uint8_t*>(record + layout_.label_bytes),
                                       layout_.sample_shape, [keep_alive](void*) {},
                                       torch::kUInt8);
  return {sample, label};
}

std::shared_ptr<Dataset> load_cifar10(const std::string& dir, bool train) {
  const RecordLayout layout{0, 1, {3, 32, 32}};
  std::vector<std::shared_ptr<const Dataset>> parts;
  if (train) {
    for (int i = 1; i <= 5; ++i) {
      parts.push_back(std::make_shared<RecordDataset>(fmt::format("{}/data_batch_{}.bin", dir, i),
                                                      layout, 10));
    }
  } else {
    parts.push_back(std::make_shared<RecordDataset>(dir + "/test_batch.bin", layout, 10));
  }
  return std::make_shared<ConcatDataset>(std::move(parts));
}

}  // namespace trainrt::data
