#include "trainrt/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <vector>

#include <fmt/format.h>
#include <torch/torch.h>

#include "trainrt/core/error.h"

namespace trainrt::data {
namespace {

// "<dir>/<name>" or, failing that, "<dir>/<name>.gz".
std::string find_file(const std::string& dir, const std::string& name) {
  const std::string plain = dir + "/" + name;
  if (std::filesystem::is_regular_file(plain)) return plain;
  if (std::filesystem::is_regular_file(plain + ".gz")) return plain + ".gz";
  throw DataError(fmt::format("data file not found: neither '{}' nor '{}.gz' exists", plain, plain));
}

// Reads up to `size` bytes; returns how many were read.
size_t read_some(gzFile file, void* buffer, size_t size, const std::string& path) {
  size_t total = 0;
  auto* out = static_cast<char*>(buffer);
  while (total < size) {
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(size - total, 1u << 30));
    const int n = gzread(file, out + total, chunk);
    if (n < 0) {
      int code = 0;
      throw DataError(fmt::format("'{}': read failed: {}", path, gzerror(file, &code)));
    }
    if (n == 0) break;
    total += static_cast<size_t>(n);
  }
  return total;
}

struct GzCloser {
  void operator()(gzFile_s* file) const { gzclose(file); }
};

}  // namespace

at::Tensor read_idx(const std::string& path) {
  std::unique_ptr<gzFile_s, GzCloser> file(gzopen(path.c_str(), "rb"));
  if (!file) throw DataError(with_errno(fmt::format("cannot open '{}'", path)));
  gzbuffer(file.get(), 1 << 20);

  unsigned char magic[4];
  if (read_some(file.get(), magic, 4, path) != 4) {
    throw DataError(fmt::format("'{}': truncated: the 4-byte IDX header is missing", path));
  }
  if (magic[0] != 0 || magic[1] != 0) {
    throw DataError(fmt::format("'{}': not an IDX file (magic number {:02x}{:02x}{:02x}{:02x}, "
                                "expected 0000 08 NDIM)", path, magic[0], magic[1], magic[2], magic[3]));
  }
  if (magic[2] != 0x08) {
    throw DataError(fmt::format("'{}': IDX element type 0x{:02x} is not supported (only 0x08, "
                                "unsigned byte)", path, magic[2]));
  }
  const int ndim = magic[3];
  if (ndim < 1 || ndim > 4) {
    throw DataError(fmt::format("'{}': IDX header gives {} dimensions (expected 1 to 4)", path, ndim));
  }
  std::vector<int64_t> shape(ndim);
  constexpr int64_t kMaxBytes = int64_t{1} << 36;
  int64_t count = 1;
  for (int d = 0; d < ndim; ++d) {
    unsigned char be[4];
    if (read_some(file.get(), be, 4, path) != 4) {
      throw DataError(fmt::format("'{}': truncated: header ends before dimension {}", path, d));
    }
    shape[d] = (int64_t{be[0]} << 24) | (int64_t{be[1]} << 16) | (int64_t{be[2]} << 8) | be[3];
    if (shape[d] != 0 && count > kMaxBytes / shape[d]) {
      throw DataError(fmt::format("'{}': IDX header announces more than 64 GiB of data", path));
    }
    count *= shape[d];
  }
  // The data is read in pieces as it comes, so that a damaged header cannot make this allocate
  // more than the file holds (a gzipped file's size says nothing of its contents').
  std::vector<uint8_t> bytes;
  constexpr size_t kPiece = size_t{1} << 24;
  const auto wanted = static_cast<size_t>(count);
  while (bytes.size() < wanted) {
    const size_t before = bytes.size();
    const size_t piece = std::min(kPiece, wanted - before);
    bytes.resize(before + piece);
    const size_t got = read_some(file.get(), bytes.data() + before, piece, path);
    bytes.resize(before + got);
    if (got < piece) break;
  }
  if (bytes.size() != wanted) {
    throw DataError(fmt::format("'{}': truncated: the header announces {} bytes of data, the file "
                                "holds {}", path, count, bytes.size()));
  }
  char extra;
  if (read_some(file.get(), &extra, 1, path) != 0) {
    throw DataError(fmt::format("'{}': {} bytes of data expected, but the file is longer", path, count));
  }
  at::Tensor data = torch::empty(shape, torch::kUInt8);
  if (!bytes.empty()) std::memcpy(data.data_ptr(), bytes.data(), bytes.size());
  return data;
}

IdxSplit load_idx_split(const std::string& dir, const std::string& prefix, int64_t limit,
                        int64_t num_classes) {
  const std::string images_path = find_file(dir, prefix + "-images-idx3-ubyte");
  const std::string labels_path = find_file(dir, prefix + "-labels-idx1-ubyte");
  at::Tensor images = read_idx(images_path);
  at::Tensor labels = read_idx(labels_path);
  if (images.dim() != 3) {
    throw DataError(fmt::format("'{}': expected 3 dimensions (N, H, W), found {}", images_path,
                                images.dim()));
  }
  if (labels.dim() != 1) {
    throw DataError(fmt::format("'{}': expected 1 dimension (N), found {}", labels_path,
                                labels.dim()));
  }
  if (images.size(0) != labels.size(0)) {
    throw DataError(fmt::format("'{}' holds {} images but '{}' holds {} labels", images_path,
                                images.size(0), labels_path, labels.size(0)));
  }
  const int64_t n = limit > 0 ? std::min(limit, images.size(0)) : images.size(0);
  const auto* label_bytes = labels.data_ptr<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    if (label_bytes[i] >= num_classes) {
      throw DataError(fmt::format("'{}': record {} has label {}, outside 0..{}", labels_path, i,
                                  label_bytes[i], num_classes - 1));
    }
  }
  return {images.narrow(0, 0, n).unsqueeze(1).contiguous(),
          labels.narrow(0, 0, n).to(torch::kInt64)};
}

}  // namespace trainrt::data
