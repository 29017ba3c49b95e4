#include "trainrt/launch/worker_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include <fmt/format.h>

#include "trainrt/core/error.h"

namespace trainrt::launch {
namespace {

constexpr size_t kTailLines = 20;

// The file execvp would run for `name`, searched in the launcher's PATH; "" if there is none.
// Found before fork: until it execs, the child may make async-signal-safe calls only (the
// launcher has threads, whose locks a forked child inherits held).
std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  const std::string dirs = path && *path ? path : "/usr/local/bin:/usr/bin:/bin";
  for (size_t start = 0; start <= dirs.size();) {
    const size_t end = std::min(dirs.find(':', start), dirs.size());
    const std::string dir = end == start ? "." : dirs.substr(start, end - start);
    const std::string candidate = dir + "/" + name;
    struct stat info {};
    if (access(candidate.c_str(), X_OK) == 0 && stat(candidate.c_str(), &info) == 0 && S_ISREG(info.st_mode)) {
      return candidate;
    }
    start = end + 1;
  }
  return "";
}

// The child's side of the fork, up to exec: async-signal-safe calls only. It takes a process
// group of its own, asks to be killed when the launcher dies (and goes at once if the launcher
// died before it asked: it has been reparented), and starts with default signal dispositions and
// an empty mask, whatever the launcher installed. Writes errno to `report_fd` if exec fails.
[[noreturn]] void become_worker(const char* path, char* const argv[], char* const envp[],
                                int output_fd, int report_fd, pid_t launcher) {
  setpgid(0, 0);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != launcher) _exit(127);
  dup2(output_fd, STDOUT_FILENO);
  dup2(output_fd, STDERR_FILENO);
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  for (int signal = 1; signal < NSIG; ++signal) sigaction(signal, &default_action, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execve(path, argv, envp);
  const int error = errno;
  [[maybe_unused]] const ssize_t written = write(report_fd, &error, sizeof(error));
  _exit(127);
}

// Starts `argv` with exactly `env`, its stdout and stderr on `output_fd`; its pid. Throws
// trainrt::Error naming the program if it cannot be started.
pid_t start_child(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                  int output_fd) {
  const std::string path = find_program(argv.front());
  if (path.empty()) {
    throw Error(Error::Kind::kConfig, fmt::format("cannot start '{}': {}", argv.front(), strerror(ENOENT)));
  }
  std::vector<char*> argv_c, env_c;
  for (const auto& a : argv) argv_c.push_back(const_cast<char*>(a.c_str()));
  argv_c.push_back(nullptr);
  for (const auto& e : env) env_c.push_back(const_cast<char*>(e.c_str()));
  env_c.push_back(nullptr);
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) throw IoError(with_errno("cannot create a pipe for a worker"));
  const pid_t launcher = getpid();
  const pid_t pid = fork();
  if (pid == 0) become_worker(path.c_str(), argv_c.data(), env_c.data(), output_fd, report[1], launcher);
  const int fork_error = errno;
  close(report[1]);
  int exec_error = pid < 0 ? fork_error : 0;
  if (pid > 0) {
    setpgid(pid, pid);  // as the child does: the group exists before anyone signals it
    ssize_t got;
    while ((got = read(report[0], &exec_error, sizeof(exec_error))) < 0 && errno == EINTR) {
    }
    if (got != sizeof(exec_error)) exec_error = 0;  // closed by a successful exec
    if (exec_error != 0) waitpid(pid, nullptr, 0);
  }
  close(report[0]);
  if (exec_error != 0) {
    throw Error(Error::Kind::kConfig, fmt::format("cannot start '{}': {}", argv.front(), strerror(exec_error)));
  }
  return pid;
}

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
  try {
    pid_ = start_child(argv, env, pipe_fds[1]);
  } catch (...) {
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    if (log_) std::fclose(log_);
    throw;
  }
  close(pipe_fds[1]);
  pump_ = std::thread([this, fd = pipe_fds[0]] { pump_output(fd); });
}

WorkerProcess::~WorkerProcess() {
  if (!poll()) {
    signal(SIGKILL);
    siginfo_t info{};
    waitid(P_PID, pid_, &info, WEXITED | WNOWAIT);  // until it is gone; poll() reaps it
    poll();
  }
  if (pump_.joinable()) pump_.join();
  if (log_) std::fclose(log_);
}

void WorkerProcess::pump_output(int fd) {
  std::string pending;
  char buffer[4096];
  while (!output_overdue()) {
    pollfd readable{fd, POLLIN, 0};
    if (::poll(&readable, 1, /*timeout ms=*/50) <= 0) continue;  // nothing yet (or EINTR)
    const ssize_t length = read(fd, buffer, sizeof(buffer));
    if (length < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (length <= 0) break;  // end of its output
    pending.append(buffer, static_cast<size_t>(length));
    for (size_t newline; (newline = pending.find('\n')) != std::string::npos;) {
      emit_line(pending.substr(0, newline));
      pending.erase(0, newline + 1);
    }
  }
  if (!pending.empty()) emit_line(std::move(pending));
  close(fd);
}

void WorkerProcess::emit_line(std::string text) {
  while (!text.empty() && text.back() == '\r') text.pop_back();
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

bool WorkerProcess::output_overdue() {
  std::lock_guard<std::mutex> lock(tail_mutex_);
  return output_deadline_ && std::chrono::steady_clock::now() >= *output_deadline_;
}

std::optional<ExitStatus> WorkerProcess::poll() {
  if (status_) return status_;
  // Seen exited but not yet reaped (WNOWAIT): until it is, its process group id cannot be taken
  // by another process, so what it left running in its group can be killed safely first.
  siginfo_t info{};
  if (waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid != pid_) {
    return std::nullopt;
  }
  killpg(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  ExitStatus exit;
  if (WIFSIGNALED(status)) {
    exit.signal = WTERMSIG(status);
  } else {
    exit.code = WEXITSTATUS(status);
  }
  status_ = exit;
  std::lock_guard<std::mutex> lock(tail_mutex_);
  output_deadline_ = std::chrono::steady_clock::now() + kDrainAfterExit;
  return status_;
}

void WorkerProcess::signal(int signal) {
  if (!status_) killpg(pid_, signal);
}

void WorkerProcess::notify(int signal) {
  if (!status_) kill(pid_, signal);
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
