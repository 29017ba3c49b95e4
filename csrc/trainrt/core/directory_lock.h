// defines: DirectoryLock
//
// One process at a time writes a directory: an flock(2) on DIR/.trainrt.lock, held while the
// object lives. The kernel lets it go when the process ends, however it ends, so a killed job never
// leaves a stale lock. The file says who holds it, for the refusal of the next one.
#pragma once

#include <chrono>
#include <string>

namespace trainrt {

class DirectoryLock {
 public:
  static constexpr const char* kFileName = ".trainrt.lock";

  // Creates `dir` if missing and takes its lock, waiting up to `wait` for a holder to let it go.
  // Throws ConfigError naming `dir`, `what` it is ("run directory") and the holder (pid, host,
  // since when) if another process, or another DirectoryLock of this one, still holds it; IoError
  // if the lock file cannot be made. On a file system without flock (Lustre without -o flock, NFS
  // mounted nolock) it goes on unlocked: `held()` is false.
  DirectoryLock(const std::string& dir, const std::string& what,
                std::chrono::milliseconds wait = std::chrono::milliseconds(0));
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

  bool held() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace trainrt
