// Format readers on small files the tests write: fixed-size records, CIFAR-10, token streams, CSV,
// JPEG/PNG folders; and the truncated and corrupt cases, each named in its error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <jpeglib.h>
#include <png.h>
#include <sys/stat.h>

#include "test_util.h"
#include "trainrt/core/error.h"
#include "trainrt/data/csv.h"
#include "trainrt/data/image_decode.h"
#include "trainrt/data/image_folder.h"
#include "trainrt/data/loader.h"
#include "trainrt/data/records.h"
#include "trainrt/data/tokens.h"
#include "trainrt/data/transforms.h"

namespace trainrt::data {
namespace {

using ::testing::HasSubstr;
using trainrt::testing::error_of;
using trainrt::testing::TempDir;
using trainrt::testing::write_file;

// Records of 1 label byte + `sample` bytes: label r % classes, bytes (r * 3 + i) % 256.
std::string records(int count, int sample, int classes, const std::string& header = "") {
  std::string bytes = header;
  for (int r = 0; r < count; ++r) {
    bytes.push_back(static_cast<char>(r % classes));
    for (int i = 0; i < sample; ++i) bytes.push_back(static_cast<char>((r * 3 + i) % 256));
  }
  return bytes;
}

TEST(RecordDataset, ReadsRecordsAfterTheHeaderWithoutCopying) {
  TempDir dir;
  write_file(dir / "r.bin", records(5, 2 * 3 * 4, 4, "HEADER"));
  RecordDataset dataset(dir / "r.bin", {6, 1, {2, 3, 4}}, 4);
  ASSERT_EQ(dataset.size(), 5);
  EXPECT_EQ(dataset.label_count(), 4);
  const Example e = dataset.get(3);
  EXPECT_EQ(e.target, 3);
  EXPECT_EQ(e.input.sizes(), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(e.input[1][2][3].item<int>(), (3 * 3 + 23) % 256);
}

TEST(RecordDataset, TruncatedFileAndBadLabelsAreNamed) {
  TempDir dir;
  std::string bytes = records(3, 10, 3);
  write_file(dir / "short.bin", bytes.substr(0, bytes.size() - 4));
  EXPECT_THAT(error_of([&] { RecordDataset(dir / "short.bin", {0, 1, {10}}, 3); }),
              HasSubstr("record 2 is cut short"));
  write_file(dir / "labels.bin", records(4, 10, 4));
  EXPECT_THAT(error_of([&] { RecordDataset(dir / "labels.bin", {0, 1, {10}}, 3); }),
              HasSubstr("labels.bin': record 3 has label 3, outside 0..2"));
  EXPECT_THAT(error_of([&] { RecordDataset(dir / "none.bin", {0, 1, {10}}, 3); }),
              HasSubstr("none.bin"));
}

TEST(RecordDataset, AShapeWhoseProductOverflowsIsNamedNotDividedBy) {
  // data.records.shape allows each dimension up to 2^24: four of them make a record of 2^96 bytes,
  // which wrapped to 0 in 64 bits and divided the file's size by zero (SIGFPE).
  TempDir dir;
  write_file(dir / "r.bin", records(2, 4, 2));
  const int64_t big = int64_t{1} << 24;
  EXPECT_THAT(error_of([&] { RecordDataset(dir / "r.bin", {0, 0, {big, big, big, big}}, 0); }),
              HasSubstr(dir / "r.bin': data.records.shape [16777216, 16777216, 16777216, 16777216] makes "
                              "records of more than"));
  // With a label byte the wrapped size was 1: every byte a record, each a view far past the file.
  EXPECT_THAT(error_of([&] { RecordDataset(dir / "r.bin", {0, 1, {big, big, big, big}}, 0); }),
              HasSubstr("data.records.shape"));
}

TEST(Cifar10, ConcatenatesTheFiveTrainingBatches) {
  TempDir dir;
  for (int i = 1; i <= 5; ++i) write_file(dir / ("data_batch_" + std::to_string(i) + ".bin"), records(i, 3072, 10));
  write_file(dir / "test_batch.bin", records(4, 3072, 10));
  auto train = load_cifar10(dir.path(), true);
  EXPECT_EQ(train->size(), 1 + 2 + 3 + 4 + 5);
  // Sample 3 is record 0 of data_batch_3 (after 1 + 2 records).
  const Example e = train->get(3);
  EXPECT_EQ(e.target, 0);
  EXPECT_EQ(e.input.sizes(), (std::vector<int64_t>{3, 32, 32}));
  EXPECT_EQ(train->get(4).input[0][0][1].item<int>(), (1 * 3 + 1) % 256);
  EXPECT_EQ(load_cifar10(dir.path(), false)->size(), 4);
  std::remove((dir / "data_batch_4.bin").c_str());
  EXPECT_THAT(error_of([&] { load_cifar10(dir.path(), true); }), HasSubstr("data_batch_4.bin"));
}

std::string uint16_tokens(const std::vector<uint16_t>& tokens) {
  return std::string(reinterpret_cast<const char*>(tokens.data()), tokens.size() * 2);
}

TEST(TokenStream, WindowsAndTargetsShiftedByOne) {
  TempDir dir;
  std::vector<uint16_t> tokens;
  for (uint16_t t = 0; t < 23; ++t) tokens.push_back(static_cast<uint16_t>(1000 + t));
  write_file(dir / "t.bin", uint16_tokens(tokens));
  auto dataset = std::make_shared<TokenWindowDataset>(dir / "t.bin", 2, 5, 0);
  EXPECT_EQ(dataset->tokens(), 23);
  EXPECT_EQ(dataset->size(), 4);  // (23 - 1) / 5
  LoaderOptions o;
  o.batch_size = 2;
  o.threads = 1;
  Loader loader(dataset, std::make_shared<TokenCollator>(5), o);
  loader.start_epoch(0);
  auto batch = loader.next();
  ASSERT_TRUE(batch);
  EXPECT_TRUE(torch::equal(batch->input[1], torch::arange(1005, 1010, torch::kInt64)));
  EXPECT_TRUE(torch::equal(batch->target[1], torch::arange(1006, 1011, torch::kInt64)));
}

TEST(TokenStream, Uint32AndErrors) {
  TempDir dir;
  const std::vector<uint32_t> tokens{70000, 1, 2, 3};
  write_file(dir / "t32.bin", std::string(reinterpret_cast<const char*>(tokens.data()), 16));
  TokenWindowDataset wide(dir / "t32.bin", 4, 3, 0);
  EXPECT_EQ(wide.get(0).input[0].item<int64_t>(), 70000);
  EXPECT_THAT(error_of([&] { TokenWindowDataset(dir / "t32.bin", 4, 3, 256); }),
              HasSubstr("token 70000 at position 0 is outside the vocabulary 0..255"));
  write_file(dir / "odd.bin", std::string(7, 'x'));
  EXPECT_THAT(error_of([&] { TokenWindowDataset(dir / "odd.bin", 2, 2, 0); }),
              HasSubstr("7 bytes is not a whole number of 2-byte tokens"));
  EXPECT_THAT(error_of([&] { TokenWindowDataset(dir / "t32.bin", 4, 8, 0); }),
              HasSubstr("too few for one window"));
}

TEST(Csv, ReadsFeaturesAndLabelsFromAnyColumn) {
  TempDir dir;
  write_file(dir / "a.csv", "x,label,y\n0.5,2,-1\r\n1e2,0,3.25\n\n");
  const CsvTable table = read_csv(dir / "a.csv", 1, true, 0);
  EXPECT_EQ(table.features.sizes(), (std::vector<int64_t>{2, 2}));
  EXPECT_FLOAT_EQ(table.features[1][0].item<float>(), 100.0f);
  EXPECT_FLOAT_EQ(table.features[0][1].item<float>(), -1.0f);
  EXPECT_EQ(table.labels[0].item<int64_t>(), 2);
}

TEST(Csv, ErrorsNameFileLineAndColumn) {
  TempDir dir;
  write_file(dir / "bad.csv", "1,2,3\n1,abc,3\n");
  EXPECT_THAT(error_of([&] { read_csv(dir / "bad.csv", 0, false, 0); }),
              HasSubstr("bad.csv:2: column 2: 'abc' is not a number"));
  write_file(dir / "ragged.csv", "1,2,3\n1,2\n");
  EXPECT_THAT(error_of([&] { read_csv(dir / "ragged.csv", 0, false, 0); }),
              HasSubstr("ragged.csv:2: 2 columns, expected 3 (as on line 1)"));
  write_file(dir / "label.csv", "1.5,2\n");
  EXPECT_THAT(error_of([&] { read_csv(dir / "label.csv", 0, false, 0); }),
              HasSubstr("label.csv:1: column 1: label 1.5 is not a class index"));
  write_file(dir / "range.csv", "7,2\n");
  EXPECT_THAT(error_of([&] { read_csv(dir / "range.csv", 0, false, 5); }),
              HasSubstr("is not a class index 0..4"));
  write_file(dir / "huge_label.csv", "1e300,2\n");
  EXPECT_THAT(error_of([&] { read_csv(dir / "huge_label.csv", 0, false, 0); }),
              HasSubstr("huge_label.csv:1: column 1: label 1e300 is not a class index"));
  write_file(dir / "huge.csv", "1,2\n1,-1e39\n");
  EXPECT_THAT(error_of([&] { read_csv(dir / "huge.csv", 0, false, 0); }),
              HasSubstr("huge.csv:2: column 2: -1e39 is outside float32's range"));
}

void write_png(const std::string& path, int width, int height, int channels,
               const std::vector<uint8_t>& pixels) {
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(width);
  png.height = static_cast<png_uint_32>(height);
  png.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  ASSERT_TRUE(png_image_write_to_file(&png, path.c_str(), 0, pixels.data(), 0, nullptr));
}

void write_jpeg(const std::string& path, int width, int height, const std::vector<uint8_t>& rgb) {
  jpeg_compress_struct info{};
  jpeg_error_mgr error{};
  info.err = jpeg_std_error(&error);
  jpeg_create_compress(&info);
  std::FILE* file = std::fopen(path.c_str(), "wb");
  jpeg_stdio_dest(&info, file);
  info.image_width = static_cast<JDIMENSION>(width);
  info.image_height = static_cast<JDIMENSION>(height);
  info.input_components = 3;
  info.in_color_space = JCS_RGB;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, 95, TRUE);
  jpeg_start_compress(&info, TRUE);
  while (info.next_scanline < info.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(rgb.data()) + info.next_scanline * width * 3;
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  std::fclose(file);
  jpeg_destroy_compress(&info);
}

std::vector<uint8_t> gradient(int width, int height, int channels) {
  std::vector<uint8_t> pixels;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c) pixels.push_back(static_cast<uint8_t>(x * 8 + y * 4 + c * 40));
  return pixels;
}

// All of `dataset` (images of `shape`) as one batch of a loader with data.skip_bad_samples: the
// batch's rows and the samples left out.
std::pair<int64_t, int64_t> one_batch_skipping_bad_samples(std::shared_ptr<Dataset> dataset,
                                                           std::vector<int64_t> shape, int threads) {
  LoaderOptions o;
  o.batch_size = dataset->size();
  o.threads = threads;
  o.skip_bad_samples = true;
  const std::vector<float> half(static_cast<size_t>(shape[0]), 0.5f);
  Loader loader(dataset, std::make_shared<ImageCollator>(shape, half, half, ImageAugment{}), o);
  loader.start_epoch(0);
  const auto batch = loader.next();
  return {batch ? batch->rows : 0, loader.skipped_samples()};
}

TEST(ImageFolder, DecodesPngExactlyAndJpegClosely) {
  TempDir dir;
  mkdir((dir / "cat").c_str(), 0755);
  mkdir((dir / "dog").c_str(), 0755);
  const auto pixels = gradient(8, 6, 3);
  write_png(dir / "cat/a.png", 8, 6, 3, pixels);
  write_jpeg(dir / "dog/b.jpg", 8, 6, pixels);
  write_file(dir / "dog/notes.txt", "not an image");
  ImageFolderDataset dataset(dir.path(), 6, 8, 3);
  ASSERT_EQ(dataset.size(), 2);
  EXPECT_EQ(dataset.classes(), (std::vector<std::string>{"cat", "dog"}));
  // HWC pixels -> CHW sample, same size: the PNG round-trips exactly.
  const at::Tensor expected =
      torch::from_blob(const_cast<uint8_t*>(pixels.data()), {6, 8, 3}, torch::kUInt8).permute({2, 0, 1});
  const Example png = dataset.get(0);
  EXPECT_EQ(png.target, 0);
  EXPECT_TRUE(torch::equal(png.input, expected));
  const Example jpg = dataset.get(1);
  EXPECT_EQ(jpg.target, 1);
  EXPECT_LT((jpg.input.to(torch::kInt32) - expected.to(torch::kInt32)).abs().max().item<int>(), 12);
}

TEST(ImageFolder, ResizeMatchesPyTorchBilinear) {
  Image image{6, 10, 1, gradient(10, 6, 1)};
  for (auto& p : image.pixels) p = static_cast<uint8_t>((p * 37) % 251);  // not a plane
  std::vector<uint8_t> out(3 * 4);
  resize_bilinear_to_chw(image, 3, 4, out.data());
  const at::Tensor source =
      torch::from_blob(image.pixels.data(), {1, 1, 6, 10}, torch::kUInt8).to(torch::kFloat32);
  const at::Tensor reference =
      torch::upsample_bilinear2d(source, {3, 4}, /*align_corners=*/false).round().squeeze();
  const at::Tensor got = torch::from_blob(out.data(), {3, 4}, torch::kUInt8).to(torch::kFloat32);
  EXPECT_LE((got - reference).abs().max().item<float>(), 1.0f);
}

TEST(ImageFolder, AHeaderAnnouncingTooManyPixelsIsRefusedBeforeDecoding) {
  // Found by the image fuzzer (a JPEG; tests/fuzz/corpus/image/regression_jpeg_huge_dimensions):
  // a few bytes announcing 63737 x 59427 pixels were allocated before the data proved short.
  TempDir dir;
  write_png(dir / "small.png", 4, 4, 1, gradient(4, 4, 1));
  std::string png = trainrt::testing::read_file(dir / "small.png");
  // IHDR: length at 8, type at 12, width and height at 16 and 20, its CRC-32 at 29.
  const std::string size = std::string("\0\0\x4e\x20", 4) + std::string("\0\0\x4e\x20", 4);  // 20000 x 20000
  png.replace(16, 8, size);
  const uint32_t crc = crc32(0, reinterpret_cast<const Bytef*>(png.data() + 12), 17);
  for (int i = 0; i < 4; ++i) png[29 + i] = static_cast<char>((crc >> (24 - 8 * i)) & 0xff);
  EXPECT_THAT(error_of([&] { decode_image(png, "big.png", 1); }),
              HasSubstr("'big.png': 20000 x 20000 pixels is more than trainrt decodes"));
}

TEST(ImageFolder, ATruncatedJpegIsAnErrorNotAPartlyGreyImage) {
  // libjpeg only warns of a premature end (and fills the missing rows); trainrt muted its warnings,
  // so a cut-off JPEG decoded silently. Under data.skip_bad_samples it is skipped like any other.
  TempDir dir;
  mkdir((dir / "a").c_str(), 0755);
  for (int i = 0; i < 4; ++i) write_jpeg(dir / ("a/" + std::to_string(i) + ".jpg"), 32, 32, gradient(32, 32, 3));
  const std::string whole = trainrt::testing::read_file(dir / "a/2.jpg");
  const size_t scan = whole.find("\xff\xda");  // start of scan: the compressed pixels follow
  ASSERT_NE(scan, std::string::npos);
  write_file(dir / "a/2.jpg", whole.substr(0, scan + (whole.size() - scan) / 2));
  EXPECT_THAT(error_of([&] { decode_image(trainrt::testing::read_file(dir / "a/2.jpg"), dir / "a/2.jpg", 3); }),
              HasSubstr(dir / "a/2.jpg': cannot decode JPEG: Premature end of JPEG file"));
  auto dataset = std::make_shared<ImageFolderDataset>(dir.path(), 32, 32, 3);
  EXPECT_THAT(error_of([&] { dataset->get(2); }), HasSubstr(dir / "a/2.jpg': cannot decode JPEG"));
  EXPECT_EQ(one_batch_skipping_bad_samples(dataset, {3, 32, 32}, 1), std::make_pair(int64_t{3}, int64_t{1}));
}

TEST(ImageFolder, CorruptImagesAreNamedOrSkipped) {
  TempDir dir;
  mkdir((dir / "a").c_str(), 0755);
  for (int i = 0; i < 6; ++i) write_png(dir / ("a/" + std::to_string(i) + ".png"), 4, 4, 1, gradient(4, 4, 1));
  std::string broken = trainrt::testing::read_file(dir / "a/3.png");
  write_file(dir / "a/3.png", broken.substr(0, broken.size() / 2));  // truncated PNG
  write_file(dir / "a/5.png", "garbage");
  auto dataset = std::make_shared<ImageFolderDataset>(dir.path(), 4, 4, 1);
  EXPECT_THAT(error_of([&] { dataset->get(3); }), HasSubstr(dir / "a/3.png': cannot decode PNG"));
  EXPECT_THAT(error_of([&] { dataset->get(5); }), HasSubstr("neither a JPEG nor a PNG"));
  EXPECT_EQ(one_batch_skipping_bad_samples(dataset, {1, 4, 4}, 2), std::make_pair(int64_t{4}, int64_t{2}));
  EXPECT_THAT(error_of([&] { ImageFolderDataset(dir / "missing", 4, 4, 1); }), HasSubstr("does not exist"));
}

}  // namespace
}  // namespace trainrt::data
