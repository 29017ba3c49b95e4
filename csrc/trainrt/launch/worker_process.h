// defines: WorkerProcess, ExitStatus, OutputSink
//
// One worker of a launched group: a child process in its own process group (so a signal reaches
// everything it started), its stdout and stderr read line by line by a thread that prefixes them
// with the rank ("[rank 3] ...") for the launcher's stdout, appends them to a per-rank log file
// when asked, and keeps the last lines for the failure report.
//
// A worker dies with the launcher (PR_SET_PDEATHSIG: SIGKILL when the thread that started it
// ends, so start workers from the launcher's main thread). Once it has exited, whatever it left
// in its process group is killed, and its output is read for at most kDrainAfterExit more: a child
// that escaped the group and still holds the pipe cannot hold the launcher.
#pragma once

#include <sys/types.h>

#include <chrono>
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
  // Sends `signal` to the worker alone (SIGUSR1: what it passes on is its own affair, and the
  // default action of SIGUSR1 would end helpers of its that do not expect it); no-op once it exited.
  void notify(int signal);
  // Its last lines of output (up to 20), once its output is closed (at most kDrainAfterExit after
  // poll() saw it exit).
  std::vector<std::string> tail();
  // Prefixes its lines from now on with `label` (a spare that became a rank).
  void relabel(std::string label);

  // How long its output is still read after it exited: what its children write later is dropped.
  static constexpr std::chrono::milliseconds kDrainAfterExit{1000};

 private:
  void pump_output(int fd);
  void emit_line(std::string text);
  bool output_overdue();

  pid_t pid_ = -1;
  std::optional<ExitStatus> status_;
  std::string label_;  // guarded by tail_mutex_
  // When the pump stops reading (kDrainAfterExit after the exit was seen); guarded by tail_mutex_.
  std::optional<std::chrono::steady_clock::time_point> output_deadline_;
  std::shared_ptr<OutputSink> sink_;
  std::FILE* log_ = nullptr;
  std::mutex tail_mutex_;
  std::deque<std::string> tail_;
  std::thread pump_;
};

}  // namespace trainrt::launch
