// defines: remove_tree, read_whole_file
//
// read_whole_file: a file's bytes, read straight into one string (checkpoints and bundles are large).
//
// remove_tree: deleting a directory with everything in it. Not std::filesystem::remove_all: a LibTorch wheel (the
// GPU machine's) exports the std::filesystem code of the older libstdc++ it was built with
// (pytorch/pytorch#133437), and remove_all crashed there (SIGSEGV) in every program linked with it,
// also with libstdc++ linked ahead of LibTorch. It is the one std::filesystem function seen to
// crash, so it is the one replaced (by POSIX nftw).
//
// Header-only, so that the test programs that do not link libtrainrt can use it too.
#pragma once

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

#include <cerrno>
#include <fstream>
#include <optional>
#include <string>
#include <system_error>

namespace trainrt {

// The bytes of the file at `path`; nullopt if it cannot be opened or read.
inline std::optional<std::string> read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return std::nullopt;
  std::string bytes(static_cast<size_t>(in.tellg()), '\0');
  in.seekg(0);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!in) return std::nullopt;
  return bytes;
}

// Removes `path` and, if it is a directory, everything under it (symbolic links themselves, not
// what they point to). A missing `path` is no error. Returns false and sets `error` on the first
// entry that cannot be removed.
inline bool remove_tree(const std::string& path, std::error_code& error) {
  error.clear();
  struct stat info;
  if (::lstat(path.c_str(), &info) != 0) {
    if (errno == ENOENT) return true;
    error = std::error_code(errno, std::generic_category());
    return false;
  }
  // Children before their directory (FTW_DEPTH), links not followed (FTW_PHYS), 16 descriptors at
  // most; a non-zero return of the callback stops the walk and is nftw's result.
  const int result = ::nftw(
      path.c_str(),
      [](const char* entry, const struct stat*, int, struct FTW*) { return ::remove(entry) == 0 ? 0 : errno; },
      16, FTW_DEPTH | FTW_PHYS);
  if (result == 0) return true;
  error = std::error_code(result > 0 ? result : errno, std::generic_category());
  return false;
}

}  // namespace trainrt
