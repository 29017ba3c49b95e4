// defines: WorkerProcess, ExitStatus, OutputSink
//
// One worker of a launched group: a child process in its own process group (so a signal reaches
// everything it started), its stdout and stderr read line by line by a thread that prefixes them
// with the rank ("[rank 3] ...") for the launcher's stdout, appends them to a per-rank log file
// when asked, and keeps the last lines for the failure report.
#pragma once

#include <sys/types.h>

#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace trainrt::launch {

// Where the workers' prefixed lines go; one per launcher, shared by its workers.
class OutputSink {
 public:
  explicit OutputSink(std::FILE* out) : out_(out) {}
  void write_line(const std::string& line);

 private:
  std::mutex mutex_;
  std::FILE* out_;
};

struct ExitStatus {
  int code = 0;    // exit code, when it exited
  int signal = 0;  // the signal that killed it, else 0
  bool ok() const { return code == 0 && signal == 0; }
  // "exit code 3" or "killed by signal 9 (SIGKILL)".
  std::string describe() const;
  // What a shell would report: the code, or 128 + the signal.
  int shell_code() const { return signal ? 128 + signal : code; }
};

class WorkerProcess {
 public:
  // Starts `argv` (searched in PATH) with exactly `env`; its output is prefixed with `label`
  // and, when `log_path` is not empty, also appended there. Throws trainrt::Error if the program
  // cannot be started.
  WorkerProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                std::string label, std::shared_ptr<OutputSink> sink, const std::string& log_path);
  ~WorkerProcess();  // kills a worker still running, then waits for it and its output
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  // Its status once it has exited (never blocks); nullopt while it runs.
  std::optional<ExitStatus> poll();
  // Sends `signal` to its whole process group; no-op once it has exited.
  void signal(int signal);
  // Its last lines of output (up to 20), once its output is closed.
  std::vector<std::string> tail();
  // Prefixes its lines from now on with `label` (a spare that became a rank).
  void relabel(std::string label);

 private:
  void pump_output(int fd);

  pid_t pid_ = -1;
  std::optional<ExitStatus> status_;
  std::string label_;  // guarded by tail_mutex_
  std::shared_ptr<OutputSink> sink_;
  std::FILE* log_ = nullptr;
  std::mutex tail_mutex_;
  std::deque<std::string> tail_;
  std::thread pump_;
};

}  // namespace trainrt::launch
