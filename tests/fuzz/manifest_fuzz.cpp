// The checkpoint manifest reader: the input is manifest.pb of a checkpoint that also holds
// model.pt ("weights"); the checkpoint is verified and looked up as a resume would.
#include "fuzz_input.h"
#include "trainrt/ckpt/catalog.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace trainrt;
  const std::string root = fuzz::scratch_dir() + "/checkpoints";
  const std::string dir = root + "/step-00000006";
  static const bool made = [&] {
    std::filesystem::create_directories(dir);
    const std::string weights = "weights";
    fuzz::write_input(reinterpret_cast<const uint8_t*>(weights.data()), weights.size(),
                      "checkpoints/step-00000006/model.pt");
    return true;
  }();
  (void)made;
  fuzz::write_input(data, size, "checkpoints/step-00000006/manifest.pb");
  fuzz::expect_clean_failure([&] {
    (void)ckpt::verify_checkpoint(dir);
    (void)ckpt::newest_good_checkpoint(root);
    (void)ckpt::resolve_checkpoint(dir);
  });
  return 0;
}
