// Model state dicts: they round-trip through LibTorch, mismatches are named, and Python's
// torch.load opens them as {name: tensor} (where python3-torch is installed).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_paths.h"  // TRAINRT_SOURCE_DIR
#include "test_util.h"
#include "trainrt/ckpt/state_dict.h"

namespace trainrt::ckpt {
namespace {

using ::testing::HasSubstr;
using trainrt::testing::TempDir;
using trainrt::testing::error_of;
using trainrt::testing::read_file;
using trainrt::testing::write_file;

torch::nn::Sequential make_model(int hidden = 8) {
  return torch::nn::Sequential(torch::nn::Linear(4, hidden), torch::nn::BatchNorm1d(hidden),
                               torch::nn::Linear(hidden, 3));
}

// A resume reads verified bytes in place: the same tensors as the checked, copying reader, their
// storage the file's own bytes.
TEST(StateDict, VerifiedBytesAreReadInPlaceAsTheCopyingReaderReadsThem) {
  TensorDict dict{{"a", torch::arange(1000, torch::kFloat)}, {"b", torch::randn({7, 3})},
                  {"c", torch::tensor({1, 2, 3}, torch::kLong)}, {"empty", torch::empty({0, 4})}};
  const std::string bytes = tensor_dict_bytes(dict);
  const auto copied = read_tensor_dict(bytes, "x.pt");
  const auto in_place = read_verified_tensor_dict(bytes, "x.pt");
  ASSERT_EQ(in_place.size(), 4u);
  EXPECT_EQ(in_place.at("empty").sizes(), torch::IntArrayRef({0, 4}));
  for (const auto& [name, tensor] : copied) {
    if (tensor.numel() == 0) continue;
    const torch::Tensor& aliased = in_place.at(name);
    EXPECT_TRUE(torch::equal(aliased, tensor)) << name;
    const char* data = static_cast<const char*>(aliased.data_ptr());
    EXPECT_TRUE(data >= bytes.data() && data < bytes.data() + bytes.size()) << name << " was copied";
  }
  EXPECT_THAT(error_of([&] { read_verified_tensor_dict("not a zip", "y.pt"); }), HasSubstr("y.pt: not a state dict"));
}

TEST(StateDict, ATensorReachingPastItsStorageIsRefusedNotReadPastTheBuffer) {
  // Found by the state_dict fuzzer (corpus/state_dict/regression_view_past_storage): one byte of
  // the pickle, a storage key, made a tensor of four floats a view of a storage of two, and the
  // copying reader handed out a tensor reaching past its heap buffer.
  std::string bytes = tensor_dict_bytes({{"a", torch::arange(4, torch::kFloat)}, {"b", torch::arange(2, torch::kFloat)}});
  const std::string key_of_a("X\x01\x00\x00\x00" "0", 6);  // BINUNICODE '0'
  const size_t at = bytes.find(key_of_a);
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(bytes.find(key_of_a, at + 1), std::string::npos);
  bytes[at + 5] = '1';  // b's storage
  EXPECT_THAT(error_of([&] { read_tensor_dict(bytes, "x.pt"); }),
              HasSubstr("x.pt: 'a' reaches past its storage"));
}

TEST(StateDict, APickleLibTorchRefusesWithAStandardExceptionIsADataErrorNamingTheFile) {
  // Found by the state_dict fuzzer: a memo index past the memo made LibTorch's Unpickler throw
  // std::out_of_range, not c10::Error, and it escaped both readers.
  const std::string bytes =
      read_file(std::string(TRAINRT_SOURCE_DIR) + "/tests/fuzz/corpus/state_dict/regression_memo_index_out_of_range");
  ASSERT_FALSE(bytes.empty());
  std::string error;
  EXPECT_NO_THROW(error = error_of([&] { read_tensor_dict(bytes, "x.pt"); }));
  EXPECT_THAT(error, HasSubstr("x.pt: not a state dict"));
  EXPECT_NO_THROW(error = error_of([&] { read_verified_tensor_dict(bytes, "x.pt"); }));
  EXPECT_THAT(error, HasSubstr("x.pt: not a state dict"));
}

TEST(StateDict, RoundTripsParametersAndBuffers) {
  auto source = make_model();
  source->forward(torch::randn({16, 4}));  // running statistics move
  auto target = make_model();
  load_model_state(*target, model_state_bytes(*source), "test");
  for (const auto& item : source->named_parameters()) {
    EXPECT_TRUE(torch::equal(item.value(), target->named_parameters()[item.key()])) << item.key();
  }
  for (const auto& item : source->named_buffers()) {
    EXPECT_TRUE(torch::equal(item.value(), target->named_buffers()[item.key()])) << item.key();
  }
}

TEST(StateDict, MismatchesAreNamed) {
  auto model = make_model();
  const std::string other_shape = model_state_bytes(*make_model(16));
  EXPECT_THAT(error_of([&] { load_model_state(*model, other_shape, "ckpt/model.pt"); }),
              HasSubstr("ckpt/model.pt: '0.bias' has shape [16], the model's is [8]"));
  auto smaller = torch::nn::Sequential(torch::nn::Linear(4, 8));
  EXPECT_THAT(error_of([&] { load_model_state(*smaller, model_state_bytes(*model), "x.pt"); }),
              HasSubstr("x.pt: '1.bias' is not in the model"));
  EXPECT_THAT(error_of([&] { load_model_state(*model, model_state_bytes(*smaller), "x.pt"); }),
              HasSubstr("x.pt: '1.bias' is missing"));
  EXPECT_THAT(error_of([&] { load_model_state(*model, "not a pickle", "y.pt"); }),
              HasSubstr("y.pt: not a state dict"));
}

TEST(StateDict, PythonTorchLoadOpensItAsADictOfTensors) {
  if (std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "python3-torch is not installed";
  }
  TempDir dir;
  auto model = make_model();
  write_file(dir / "model.pt", model_state_bytes(*model));
  const std::string script =
      "import torch, sys\n"
      "d = torch.load(sys.argv[1])\n"
      "print(type(d).__name__, ' '.join(f'{k}:{list(v.shape)}:{float(v.double().sum()):.6f}' for k, v in sorted(d.items())))\n";
  write_file(dir / "load.py", script);
  ASSERT_EQ(std::system(("/usr/bin/python3 " + (dir / "load.py") + " " + (dir / "model.pt") + " > " +
                         (dir / "out.txt")).c_str()),
            0);
  std::string expected = "dict";
  std::map<std::string, torch::Tensor> state;
  for (const auto& item : model->named_parameters()) state[item.key()] = item.value();
  for (const auto& item : model->named_buffers()) state[item.key()] = item.value();
  for (const auto& [name, tensor] : state) {
    expected += fmt::format(" {}:{}:{:.6f}", name, c10::str(tensor.sizes()), tensor.to(torch::kDouble).sum().item<double>());
  }
  std::string got = read_file(dir / "out.txt");
  got = got.substr(0, got.find('\n'));
  // Python prints shapes as [8, 4] like c10::str.
  EXPECT_EQ(got, expected);
}

}  // namespace
}  // namespace trainrt::ckpt
