// defines: CommandResult, run_command, Child, spawn_child, wait_child, processes_with_env — real child processes with their own environment and a
// log file, waited on with a deadline (a child still running then is killed: a test never hangs).
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

extern char** environ;

namespace trainrt::testing {

struct CommandResult {
  int exit_code = -1;  // 128 + signal if killed by one
  std::string output;  // stdout and stderr
};

// Runs `command` with /bin/sh, waiting for it and capturing its output and error streams.
inline CommandResult run_command(const std::string& command) {
  std::FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  CommandResult run;
  if (!pipe) return run;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) run.output.append(buffer, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return run;
}

struct Child {
  pid_t pid = -1;
  std::string log;  // stdout and stderr
};

// Starts `argv` with this process's environment plus `extra_env` ("NAME=value" entries, which
// take precedence), its output going to `log`.
inline Child spawn_child(const std::vector<std::string>& argv,
                         const std::vector<std::string>& extra_env, const std::string& log) {
  std::vector<std::string> env = extra_env;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    bool overridden = false;
    for (const auto& extra : extra_env) overridden |= extra.rfind(name + "=", 0) == 0;
    if (!overridden) env.push_back(entry);
  }
  std::vector<char*> argv_c, env_c;
  for (const auto& a : argv) argv_c.push_back(const_cast<char*>(a.c_str()));
  argv_c.push_back(nullptr);
  for (const auto& e : env) env_c.push_back(const_cast<char*>(e.c_str()));
  env_c.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  Child child;
  child.log = log;
  if (posix_spawnp(&child.pid, argv_c[0], &actions, nullptr, argv_c.data(), env_c.data()) != 0) {
    child.pid = -1;
  }
  posix_spawn_file_actions_destroy(&actions);
  return child;
}

// The child's exit code (128 + signal if killed by one), or -1 if it was still running after
// `timeout` and had to be killed.
inline int wait_child(const Child& child, std::chrono::seconds timeout) {
  if (child.pid <= 0) return -2;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (waitpid(child.pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(child.pid, SIGKILL);
      waitpid(child.pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Processes whose environment holds every one of `entries` ("NAME=value").
inline std::vector<pid_t> processes_with_env(const std::vector<std::string>& entries) {
  std::vector<pid_t> found;
  DIR* proc = opendir("/proc");
  while (dirent* entry = readdir(proc)) {
    const pid_t pid = std::atoi(entry->d_name);
    if (pid <= 0) continue;
    const std::string env = read_file("/proc/" + std::string(entry->d_name) + "/environ");
    bool all = true;
    for (const auto& wanted : entries) all &= env.find(std::string(1, '\0') + wanted + '\0') != std::string::npos ||
                                               env.rfind(wanted + '\0', 0) == 0;
    if (all) found.push_back(pid);
  }
  closedir(proc);
  return found;
}

}  // namespace trainrt::testing
