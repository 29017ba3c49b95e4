// defines: error_of, TempDir, write_file, idx_bytes, write_idx_dataset, write_csv_features, read_lines — helpers shared by the test suites.
#pragma once

#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "trainrt/core/error.h"
#include "trainrt/core/files.h"

namespace trainrt::testing {

// The message of the trainrt::Error that `fn` throws ("" if it throws none).
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const trainrt::Error& e) {
    return e.what();
  }
  return "";
}

// A fresh directory under $TMPDIR (or /tmp), removed with its contents when the test ends.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base ? base : "/tmp") + "/trainrt-test-XXXXXX";
    path_ = mkdtemp(pattern.data()) ? pattern : "";
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) trainrt::remove_tree(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// An IDX file of unsigned bytes: header (0, 0, 0x08, ndim, big-endian sizes) then `data`.
inline std::string idx_bytes(const std::vector<uint32_t>& shape, const std::vector<uint8_t>& data) {
  std::string bytes = {0, 0, 0x08, static_cast<char>(shape.size())};
  for (uint32_t d : shape) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>(d >> shift));
  }
  bytes.append(data.begin(), data.end());
  return bytes;
}

inline void write_gzip(const std::string& path, const std::string& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(file);
}

// Pixel p of synthetic image i: the pixels whose position matches the label (p % 10 == i % 10) are
// bright, the rest dim noise, so each class has its own pattern and a model can learn it quickly.
inline uint8_t test_pixel(uint32_t i, uint32_t p) {
  return static_cast<uint8_t>(p % 10 == i % 10 ? 200 + (i + p) % 8 : ((i + p) % 8) * 4);
}

// A small Fashion-MNIST-shaped data set in `dir`: n train and m test images of h x w with
// labels i % 10 and pixels test_pixel(i, y * w + x). Written gzipped when `gzip`.
inline void write_idx_dataset(const std::string& dir, uint32_t n, uint32_t m, uint32_t h = 28,
                              uint32_t w = 28, bool gzip = false) {
  auto write_split = [&](const std::string& prefix, uint32_t count) {
    std::vector<uint8_t> pixels, labels;
    for (uint32_t i = 0; i < count; ++i) {
      labels.push_back(static_cast<uint8_t>(i % 10));
      for (uint32_t p = 0; p < h * w; ++p) pixels.push_back(test_pixel(i, p));
    }
    const std::string images = idx_bytes({count, h, w}, pixels);
    const std::string label_bytes = idx_bytes({count}, labels);
    const std::string base = dir + "/" + prefix;
    if (gzip) {
      write_gzip(base + "-images-idx3-ubyte.gz", images);
      write_gzip(base + "-labels-idx1-ubyte.gz", label_bytes);
    } else {
      write_file(base + "-images-idx3-ubyte", images);
      write_file(base + "-labels-idx1-ubyte", label_bytes);
    }
  };
  write_split("train", n);
  write_split("t10k", m);
}

// train.csv and test.csv in `dir`, `rows` rows each of a label and four features: class k has
// feature k large, the others small noise. Training rows listed in `marked` get a first feature of
// 1e6, which the test plugin's "test_nan_on_marked_rows" model answers with NaN.
inline void write_csv_features(const std::string& dir, int rows, const std::vector<int>& marked = {}) {
  for (const char* name : {"train.csv", "test.csv"}) {
    std::string text = "label,f0,f1,f2,f3\n";
    for (int i = 0; i < rows; ++i) {
      const bool mark = std::string(name) == "train.csv" &&
                        std::find(marked.begin(), marked.end(), i) != marked.end();
      text += std::to_string(i % 4);
      for (int f = 0; f < 4; ++f) {
        const double value = f == i % 4 ? 3.0 + (i % 7) * 0.1 : (i % 5) * 0.1;
        text += "," + std::to_string(mark && f == 0 ? 1e6 : value);
      }
      text += "\n";
    }
    write_file(dir + "/" + name, text);
  }
}

inline std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace trainrt::testing
