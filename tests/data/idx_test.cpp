// IDX reading: plain and gzipped files, and every way a file can be wrong.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "test_util.h"
#include "trainrt/core/error.h"
#include "trainrt/data/idx.h"

namespace trainrt::data {
namespace {

using ::testing::HasSubstr;
using trainrt::testing::error_of;
using trainrt::testing::idx_bytes;
using trainrt::testing::TempDir;
using trainrt::testing::write_file;

TEST(Idx, ReadsPlainAndGzippedFilesAlike) {
  TempDir dir;
  const std::string bytes = idx_bytes({2, 2, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  write_file(dir / "plain", bytes);
  trainrt::testing::write_gzip(dir / "packed.gz", bytes);
  for (const std::string name : {"plain", "packed.gz"}) {
    const at::Tensor t = read_idx(dir / name);
    EXPECT_EQ(t.sizes(), (std::vector<int64_t>{2, 2, 3}));
    EXPECT_EQ(t.scalar_type(), torch::kUInt8);
    EXPECT_EQ(t[1][1][2].item<int>(), 12);
    EXPECT_EQ(t[0][1][0].item<int>(), 4);
  }
}

TEST(Idx, TruncatedDataNamesFileAndSizes) {
  TempDir dir;
  write_file(dir / "short", idx_bytes({3, 2}, {1, 2, 3, 4, 5}));
  const std::string message = error_of([&] { read_idx(dir / "short"); });
  EXPECT_THAT(message, HasSubstr(dir / "short"));
  EXPECT_THAT(message, HasSubstr("truncated: the header announces 6 bytes of data, the file holds 5"));
  // A header announcing 32 GiB over a few bytes is refused as truncated, without allocating it.
  write_file(dir / "huge", std::string("\0\0\x08\x02\0\x02\0\0\0\x04\0\0\1\2\3", 15));
  EXPECT_THAT(error_of([&] { read_idx(dir / "huge"); }),
              HasSubstr("truncated: the header announces 34359738368 bytes of data, the file holds 3"));
  // Dimensions whose product overflows 64 bits (found by the idx fuzzer).
  write_file(dir / "overflow", std::string("\0\0\x08\x03\xff\xff\x7e\xff\xb9\x1c\0\x54\0\0\0\x0d", 16));
  EXPECT_THAT(error_of([&] { read_idx(dir / "overflow"); }), HasSubstr("announces more than 64 GiB"));
}

TEST(Idx, AZeroSizedDimensionGivesAnEmptyTensorOfThatShape) {
  // Found by the idx fuzzer: this case leaked the reader's buffer.
  TempDir dir;
  write_file(dir / "empty", idx_bytes({0, 0, 4}, {}));
  const auto tensor = read_idx(dir / "empty");
  EXPECT_EQ(tensor.sizes(), (std::vector<int64_t>{0, 0, 4}));
}

TEST(Idx, TruncatedHeaderAndTrailingBytesAreErrors) {
  TempDir dir;
  write_file(dir / "header", std::string("\0\0\x08\x02\0\0", 6));
  EXPECT_THAT(error_of([&] { read_idx(dir / "header"); }), HasSubstr("header ends before dimension"));
  write_file(dir / "long", idx_bytes({2}, {1, 2, 3}));
  EXPECT_THAT(error_of([&] { read_idx(dir / "long"); }), HasSubstr("the file is longer"));
  write_file(dir / "empty", "");
  EXPECT_THAT(error_of([&] { read_idx(dir / "empty"); }), HasSubstr("header is missing"));
}

TEST(Idx, WrongMagicOrElementTypeIsRejected) {
  TempDir dir;
  write_file(dir / "png", "\x89PNG\r\n\x1a\n");
  EXPECT_THAT(error_of([&] { read_idx(dir / "png"); }), HasSubstr("not an IDX file"));
  write_file(dir / "float", std::string("\0\0\x0d\x01\0\0\0\x01\0\0\0\0", 12));
  EXPECT_THAT(error_of([&] { read_idx(dir / "float"); }), HasSubstr("element type 0x0d"));
}

TEST(Idx, MissingFileIsNamed) {
  TempDir dir;
  EXPECT_THAT(error_of([&] { read_idx(dir / "nothing"); }), HasSubstr(dir / "nothing"));
  EXPECT_THAT(error_of([&] { load_idx_split(dir.path(), "train", 0, 10); }),
              HasSubstr("train-images-idx3-ubyte.gz' exists"));
}

TEST(IdxSplit, LoadsImagesAndLabelsWithLimit) {
  TempDir dir;
  trainrt::testing::write_idx_dataset(dir.path(), 30, 10, 4, 5, /*gzip=*/true);
  const IdxSplit split = load_idx_split(dir.path(), "train", 12, 10);
  EXPECT_EQ(split.images.sizes(), (std::vector<int64_t>{12, 1, 4, 5}));
  EXPECT_EQ(split.labels.scalar_type(), torch::kInt64);
  EXPECT_EQ(split.labels[11].item<int64_t>(), 1);
  EXPECT_EQ(split.images[3][0][1][2].item<int>(), trainrt::testing::test_pixel(3, 1 * 5 + 2));
}

TEST(IdxSplit, LabelOutOfRangeNamesFileAndRecord) {
  TempDir dir;
  trainrt::testing::write_idx_dataset(dir.path(), 4, 4, 2, 2);
  write_file(dir / "train-labels-idx1-ubyte", idx_bytes({4}, {0, 1, 12, 3}));
  const std::string message = error_of([&] { load_idx_split(dir.path(), "train", 0, 10); });
  EXPECT_THAT(message, HasSubstr("train-labels-idx1-ubyte': record 2 has label 12, outside 0..9"));
}

TEST(IdxSplit, CountMismatchIsAnError) {
  TempDir dir;
  trainrt::testing::write_idx_dataset(dir.path(), 4, 4, 2, 2);
  write_file(dir / "train-labels-idx1-ubyte", idx_bytes({3}, {0, 1, 2}));
  EXPECT_THAT(error_of([&] { load_idx_split(dir.path(), "train", 0, 10); }),
              HasSubstr("holds 4 images but"));
}

}  // namespace
}  // namespace trainrt::data
