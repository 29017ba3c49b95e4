// defines: write_input, expect_clean_failure — what every fuzz target shares.
//
// The readers under test take file paths, so each input is written to a file in this process's own
// scratch folder first. Bad input must end in trainrt::Error (a message naming what is wrong and
// where); any other exception escapes, and libFuzzer reports it as a crash, as it does for a
// sanitizer's report, a signal or a leak.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "trainrt/core/error.h"

namespace trainrt::fuzz {

// This process's scratch folder (made once, under $TMPDIR or /tmp).
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    const auto path = std::filesystem::temp_directory_path() / ("trainrt-fuzz-" + std::to_string(getpid()));
    std::filesystem::create_directories(path);
    return path.string();
  }();
  return dir;
}

// Writes `size` bytes to scratch_dir()/name and returns the path.
inline std::string write_input(const uint8_t* data, size_t size, const std::string& name) {
  const std::string path = scratch_dir() + "/" + name;
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr || (size > 0 && std::fwrite(data, 1, size, file) != size)) std::abort();
  std::fclose(file);
  return path;
}

// Runs `read`; trainrt::Error (the reader refusing the input, by name) is the one acceptable failure.
template <class Read>
void expect_clean_failure(Read&& read) {
  try {
    read();
  } catch (const trainrt::Error&) {
  }
}

}  // namespace trainrt::fuzz
