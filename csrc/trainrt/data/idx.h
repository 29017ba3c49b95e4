// defines: read_idx, load_idx_split, IdxSplit
//
// MNIST-style IDX files (MNIST, Fashion-MNIST): a big-endian header (magic 0x0000 08 NDIM, then
// NDIM sizes) followed by unsigned bytes. Gzipped and plain files are both read (zlib reads either).
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

namespace trainrt::data {

// The whole file as a uint8 tensor of the header's shape. Throws trainrt::Error naming the file for
// a missing file, a bad magic number, an unsupported element type or a size that does not match the
// header (truncated or trailing bytes).
at::Tensor read_idx(const std::string& path);

struct IdxSplit {
  at::Tensor images;  // uint8 [N, 1, H, W]
  at::Tensor labels;  // int64 [N]
};

// Reads "<dir>/<prefix>-images-idx3-ubyte[.gz]" and "<dir>/<prefix>-labels-idx1-ubyte[.gz]"
// (prefix "train" or "t10k"), keeping the first `limit` samples (0: all). Checks that the two files
// hold the same number of samples and that every label is below `num_classes`; errors name the
// file and the record.
IdxSplit load_idx_split(const std::string& dir, const std::string& prefix, int64_t limit,
                        int64_t num_classes);

}  // namespace trainrt::data
