// core/device on any machine: runtime.device and runtime.precision as the plain strings the callers
// read from the config (the CUDA cases themselves are in gpu/gpu_test.cpp).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_util.h"
#include "trainrt/core/device.h"

namespace trainrt {
namespace {

using ::testing::HasSubstr;
using trainrt::testing::error_of;

TEST(ChooseDevice, CpuIsTheCpuWhateverTheMachineHas) {
  EXPECT_EQ(choose_device("cpu", 0), torch::Device(torch::kCPU));
  EXPECT_EQ(choose_device("cpu", 3), torch::Device(torch::kCPU));
}

TEST(ChooseDevice, AutoFallsBackToTheCpuAndCudaIsRefusedWithoutCuda) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "this machine has CUDA (gpu_test covers it)";
  EXPECT_EQ(choose_device("auto", 0), torch::Device(torch::kCPU));
  const std::string message = error_of([] { choose_device("cuda", 0); });
  EXPECT_THAT(message, HasSubstr("runtime.device: cuda"));
  EXPECT_THAT(message, HasSubstr("use device: \"cpu\" or \"auto\""));
}

TEST(ChooseDevice, AnUnknownNameIsAConfigErrorNamingTheField) {
  try {
    choose_device("gpu", 0);
    FAIL() << "\"gpu\" was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kConfig);
    EXPECT_THAT(e.what(), HasSubstr("runtime.device: \"gpu\" is none of \"auto\", \"cpu\", \"cuda\""));
  }
}

TEST(UsesBfloat16, OnlyForBfloat16) {
  EXPECT_TRUE(uses_bfloat16("bfloat16"));
  EXPECT_FALSE(uses_bfloat16("float32"));
  EXPECT_FALSE(uses_bfloat16(""));
}

TEST(AutocastScope, MatrixProductsRunInBfloat16InsideAndFloat32After) {
  const auto a = torch::ones({2, 2});
  {
    AutocastScope scope(torch::kCPU, /*enabled=*/true);
    EXPECT_EQ(torch::mm(a, a).scalar_type(), torch::kBFloat16);
  }
  EXPECT_EQ(torch::mm(a, a).scalar_type(), torch::kFloat);
  AutocastScope disabled(torch::kCPU, /*enabled=*/false);
  EXPECT_EQ(torch::mm(a, a).scalar_type(), torch::kFloat);
}

}  // namespace
}  // namespace trainrt
