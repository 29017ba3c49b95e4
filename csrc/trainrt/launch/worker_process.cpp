#include "trainrt/launch/worker_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "trainrt/core/error.h"

namespace trainrt::launch {
namespace {

constexpr size_t kTailLines = 20;

}  // namespace

void OutputSink::write_line(const std::string& line) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fputc('\n', out_);
  std::fflush(out_);
}

std::string ExitStatus::describe() const {
  if (signal) {
    const char* name = sigabbrev_np(signal);
    return fmt::format("killed by signal {} (SIG{})", signal, name ? name : "?");
  }
  return fmt::format("exit code {}", code);
}

WorkerProcess::WorkerProcess(const std::vector<std::string>& argv,
                             const std::vector<std::string>& env, std::string label,
                             std::shared_ptr<OutputSink> sink, const std::string& log_path)
    : label_(std::move(label)), sink_(std::move(sink)) {
  if (!log_path.empty()) {
    log_ = std::fopen(log_path.c_str(), "a");
    if (!log_) throw IoError(with_errno(fmt::format("cannot open the worker log '{}'", log_path)));
  }
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) throw IoError(with_errno("cannot create a pipe for a worker"));
  std::vector<char*> argv_c, env_c;
  for (const auto& a : argv) argv_c.push_back(const_cast<char*>(a.c_str()));
  argv_c.push_back(nullptr);
  for (const auto& e : env) env_c.push_back(const_cast<char*>(e.c_str()));
  env_c.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  // Its own process group, so that signals reach whatever the worker starts; default signal
  // dispositions and mask, whatever the launcher installed.
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attributes, &all);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                            POSIX_SPAWN_SETSIGMASK);
  const int error = posix_spawnp(&pid_, argv_c[0], &actions, &attributes, argv_c.data(), env_c.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  close(pipe_fds[1]);
  if (error != 0) {
    close(pipe_fds[0]);
    if (log_) std::fclose(log_);
    throw Error(Error::Kind::kConfig,
                fmt::format("cannot start '{}': {}", argv.front(), strerror(error)));
  }
  pump_ = std::thread([this, fd = pipe_fds[0]] { pump_output(fd); });
}

WorkerProcess::~WorkerProcess() {
  if (!poll()) {
    signal(SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  if (pump_.joinable()) pump_.join();
  if (log_) std::fclose(log_);
}

void WorkerProcess::pump_output(int fd) {
  std::FILE* in = fdopen(fd, "r");
  char* line = nullptr;
  size_t capacity = 0;
  ssize_t length;
  while ((length = getline(&line, &capacity, in)) >= 0) {
    std::string text(line, static_cast<size_t>(length));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    // A progress bar redraws with \r: keep what was drawn last.
    if (auto cr = text.rfind('\r'); cr != std::string::npos) text = text.substr(cr + 1);
    std::lock_guard<std::mutex> lock(tail_mutex_);
    sink_->write_line(label_ + text);
    if (log_) {
      std::fprintf(log_, "%s\n", text.c_str());
      std::fflush(log_);
    }
    tail_.push_back(text);
    if (tail_.size() > kTailLines) tail_.pop_front();
  }
  free(line);
  std::fclose(in);
}

std::optional<ExitStatus> WorkerProcess::poll() {
  if (status_) return status_;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
  ExitStatus exit;
  if (WIFSIGNALED(status)) {
    exit.signal = WTERMSIG(status);
  } else {
    exit.code = WEXITSTATUS(status);
  }
  status_ = exit;
  return status_;
}

void WorkerProcess::signal(int signal) {
  if (!status_) killpg(pid_, signal);
}

void WorkerProcess::relabel(std::string label) {
  std::lock_guard<std::mutex> lock(tail_mutex_);
  label_ = std::move(label);
}

std::vector<std::string> WorkerProcess::tail() {
  if (status_ && pump_.joinable()) pump_.join();  // its output is complete once it exited
  std::lock_guard<std::mutex> lock(tail_mutex_);
  return {tail_.begin(), tail_.end()};
}

}  // namespace trainrt::launch
