// defines: RecordLayout, RecordDataset, load_cifar10
//
// Fixed-size binary records in a memory-mapped file: an optional file header, then records of
// `label_bytes` label (0 or 1 byte) followed by the uint8 sample of `sample_shape`. CIFAR-10's
// binary batches are such files (1 label byte, then 3x32x32 pixels).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "trainrt/data/dataset.h"
#include "trainrt/data/mapped_file.h"

namespace trainrt::data {

struct RecordLayout {
  int64_t header_bytes = 0;
  int64_t label_bytes = 1;            // 0: every label is 0
  std::vector<int64_t> sample_shape;  // e.g. {3, 32, 32}
  // The label and the sample's bytes; throws DataError naming `path` (the file read with this
  // layout) and the shape when that does not fit in 64 bits (each dimension may be up to 2^24).
  int64_t record_bytes(const std::string& path) const;
};

class RecordDataset : public Dataset {
 public:
  // Maps `path` and checks it: the data after the header must be a whole number of records and
  // every label below `num_classes` (0: no check). Errors name the file and the record.
  RecordDataset(const std::string& path, RecordLayout layout, int64_t num_classes);
  int64_t size() const override { return size_; }
  // The sample is a view of the mapped file (no copy).
  Example get(int64_t index) const override;
  // The largest label in the file, plus one (0 for an empty file).
  int64_t label_count() const { return label_count_; }

 private:
  std::shared_ptr<MappedFile> file_;
  RecordLayout layout_;
  int64_t record_bytes_ = 0;
  int64_t size_ = 0;
  int64_t label_count_ = 0;
};

// CIFAR-10 from its binary distribution in `dir`: data_batch_1.bin .. data_batch_5.bin (train) or
// test_batch.bin (test), as one data set of uint8 [3, 32, 32] images and labels 0..9.
std::shared_ptr<Dataset> load_cifar10(const std::string& dir, bool train);

}  // namespace trainrt::data
