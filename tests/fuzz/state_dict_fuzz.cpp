// The state-dict reader (a zip archive holding a pickled Dict[str, Tensor], as model.pt and
// optimizer.pt are): the input is the file's bytes, read both ways a checkpoint is read - copied
// (read_tensor_dict: export, generate, bundles) and in place (read_verified_tensor_dict: resume,
// whose tensors point into the bytes). Seeds: model.pt and optimizer.pt of a tiny real run
// (`trainrt train`: an MLP of one hidden layer of 2 on 2 features, SGD with momentum, 1 step).
#include "fuzz_input.h"
#include "trainrt/ckpt/state_dict.h"

namespace {

// Reads every byte a tensor's view spans, here in instrumented code: LibTorch's own kernels are
// not, so an in-place tensor reaching past the input would go unseen by AddressSanitizer there.
void touch(const at::Tensor& tensor) {
  if (tensor.numel() == 0) return;
  int64_t last = tensor.storage_offset();
  for (int64_t d = 0; d < tensor.dim(); ++d) last += (tensor.size(d) - 1) * tensor.stride(d);
  const auto* base = static_cast<const volatile char*>(tensor.storage().data());
  const int64_t size = tensor.element_size();
  char sum = 0;
  for (int64_t byte = tensor.storage_offset() * size; byte < (last + 1) * size; ++byte) sum += base[byte];
  (void)sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace trainrt;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  fuzz::expect_clean_failure([&] {
    for (const auto& [name, tensor] : ckpt::read_tensor_dict(bytes, "model.pt")) touch(tensor);
  });
  fuzz::expect_clean_failure([&] {
    for (const auto& [name, tensor] : ckpt::read_verified_tensor_dict(bytes, "model.pt")) touch(tensor);
  });
  return 0;
}
