// The config parser and --set overrides. Input: the first line is one override ("field=value"),
// the rest a config in protobuf text format (also tried as JSON).
#include "fuzz_input.h"
#include "trainrt/config/load.h"
#include "trainrt/config/overrides.h"
#include "trainrt/config/trainrt.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace trainrt;
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const std::string assignment = input.substr(0, newline);
  const std::string text = newline == std::string::npos ? "" : input.substr(newline + 1);
  fuzz::expect_clean_failure([&] {
    config::TrainConfig defaults;
    config::apply_override(defaults, assignment);
  });
  fuzz::expect_clean_failure(
      [&] { config::resolve_config(config::parse_config_text(text, "fuzz.pbtxt"), {assignment}, "fuzz"); });
  fuzz::expect_clean_failure([&] { config::parse_config_json(text, "fuzz.json"); });
  return 0;
}
