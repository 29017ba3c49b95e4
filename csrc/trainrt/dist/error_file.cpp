#include "trainrt/dist/error_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include <nlohmann/json.hpp>

namespace trainrt::dist {
namespace {

// Opens `path` without following a link planted there (O_NOFOLLOW), and only as a regular file
// (O_NONBLOCK: a FIFO planted there cannot block the open); -1 otherwise.
int open_plain_file(const std::string& path, int flags) {
  const int fd = open(path.c_str(), flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
  struct stat info {};
  if (fd >= 0 && (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode))) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

// O_CREAT | O_TRUNC rather than O_EXCL: a report may be legitimately rewritten (a worker's
// watchdog and its main thread may both report; a path a user fixed for every run holds the last
// run's report), and the newest must win. Links are never followed, and the launcher's own folder
// (mkdtemp's, launch/launcher.cpp) lets no one else plant anything there.
void write_error_file(const std::string& path, const std::string& message) {
  if (path.empty()) return;
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  nlohmann::json report{{"message", message},
                        {"timestamp", std::chrono::duration_cast<std::chrono::seconds>(now).count()}};
  const std::string text = report.dump() + "\n";
  const int fd = open_plain_file(path, O_WRONLY | O_CREAT | O_TRUNC);
  if (fd < 0) return;
  for (size_t done = 0; done < text.size();) {
    const ssize_t written = write(fd, text.data() + done, text.size() - done);
    if (written <= 0) break;
    done += static_cast<size_t>(written);
  }
  close(fd);
}

std::string read_error_message(const std::string& path) {
  const int fd = open_plain_file(path, O_RDONLY);
  if (fd < 0) return "";
  std::string text;
  char buffer[4096];
  for (ssize_t got; (got = read(fd, buffer, sizeof(buffer))) > 0;) text.append(buffer, static_cast<size_t>(got));
  close(fd);
  const auto report = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!report.is_object() || !report.contains("message")) return "";
  const auto& message = report["message"];
  if (message.is_string()) return message.get<std::string>();
  // PyTorch's own workers nest it: {"message": {"message": "...", "extraInfo": {...}}}.
  if (message.is_object() && message.contains("message") && message["message"].is_string()) {
    return message["message"].get<std::string>();
  }
  return "";
}

}  // namespace trainrt::dist
