#include "trainrt/core/directory_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <thread>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "trainrt/core/error.h"
#include "trainrt/core/files.h"

namespace trainrt {

DirectoryLock::DirectoryLock(const std::string& dir, const std::string& what, std::chrono::milliseconds wait) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) throw IoError(fmt::format("cannot create {} '{}': {}", what, dir, error.message()));
  const std::string path = dir + "/" + kFileName;
  // O_NOFOLLOW: a link planted in the directory does not get some other file truncated.
  fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd_ < 0) throw IoError(with_errno(fmt::format("cannot open the lock file '{}'", path)));
  const auto deadline = std::chrono::steady_clock::now() + wait;
  int locked = flock(fd_, LOCK_EX | LOCK_NB);
  while (locked != 0 && errno == EWOULDBLOCK && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    locked = flock(fd_, LOCK_EX | LOCK_NB);
  }
  if (locked != 0) {
    const int reason = errno;
    close(fd_);
    fd_ = -1;
    if (reason == ENOLCK || reason == EOPNOTSUPP || reason == ENOSYS) return;  // cannot be locked here
    if (reason != EWOULDBLOCK) {
      errno = reason;
      throw IoError(with_errno(fmt::format("cannot lock '{}'", path)));
    }
    std::string holder = read_whole_file(path).value_or("");
    holder = holder.substr(0, holder.find('\n'));
    throw ConfigError(fmt::format(
        "{} '{}' is in use by another trainrt job ({}): two jobs writing one directory overwrite "
        "each other's checkpoints and metrics; wait for it to end, or train into another --run-dir",
        what, dir, holder.empty() ? "its holder did not say who it is" : holder));
  }
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  const std::string holder = fmt::format("pid {} on host {}, since {:%Y-%m-%d %H:%M:%S} UTC\n", getpid(), host,
                                         fmt::gmtime(std::time(nullptr)));
  // Informational only (the lock is the flock): a failed write leaves an anonymous holder.
  if (ftruncate(fd_, 0) == 0) (void)!pwrite(fd_, holder.data(), holder.size(), 0);
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) close(fd_);  // closing the last descriptor releases the flock
}

}  // namespace trainrt
