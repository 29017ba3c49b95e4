#include "trainrt/launch/launcher.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <map>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "trainrt/core/error.h"
#include "trainrt/core/files.h"
#include "trainrt/dist/error_file.h"
#include "trainrt/dist/local_route.h"
#include "trainrt/dist/membership.h"
#include "trainrt/dist/rendezvous.h"
#include "trainrt/dist/spare.h"
#include "trainrt/dist/store_server.h"
#include "trainrt/launch/launcher_signals.h"
#include "trainrt/launch/worker_process.h"

extern char** environ;

namespace trainrt::launch {
namespace {

using Clock = std::chrono::steady_clock;

void validate(const LaunchOptions& o) {
  std::vector<std::string> problems;
  if (o.nproc_per_node < 1) problems.push_back("--nproc-per-node must be >= 1");
  if (o.nnodes < 1) problems.push_back("--nnodes must be >= 1");
  if (o.min_nnodes < 0 || o.min_nnodes > o.nnodes) {
    problems.push_back(fmt::format("--nnodes {}:{}: MIN must be 1..MAX", o.min_nnodes, o.nnodes));
  }
  if (o.node_rank < 0 || o.node_rank >= o.nnodes) {
    problems.push_back(fmt::format("--node-rank {} is outside 0..{} (--nnodes {})", o.node_rank,
                                   o.nnodes - 1, o.nnodes));
  }
  if (o.master_port < 0 || o.master_port > 65535) problems.push_back("--master-port must be 0..65535");
  if (o.standalone && o.nnodes > 1) problems.push_back("--standalone is for one node; drop --nnodes");
  if (o.max_restarts < 0) problems.push_back("--max-restarts must be >= 0");
  if (o.spares < -1) problems.push_back("--spares must be >= 0");
  if (o.recovery != "memory" && o.recovery != "restart") {
    problems.push_back(fmt::format("--recovery '{}' is neither memory nor restart", o.recovery));
  }
  if (o.program.empty()) problems.push_back("no program given: trainrt launch [options] -- PROGRAM ARGS...");
  if (!problems.empty()) {
    std::string message = "trainrt launch:";
    for (const auto& p : problems) message += "\n  " + p;
    throw ConfigError(message);
  }
}

struct Failure {
  int rank = -1;
  int local_rank = -1;
  ExitStatus status;
  std::string cause;
  std::vector<std::string> tail;
};

enum class Outcome { kSucceeded, kFailed, kSignalled };

// What a worker is given unless the user set it: what torchrun also sets (NCCL's asynchronous
// error handling, under LibTorch 1.13's name and today's; one thread per process when several
// share the cores), and the interface NCCL is to use. NCCL picks one itself and skips loopback, so
// a single-node job would listen on the external interface: it is told the interface on the route
// to MASTER_ADDR, the one Gloo binds (dist/local_route.h), so both backends listen in one place.
std::map<std::string, std::string> worker_defaults(const LaunchOptions& o, int master_port) {
  std::map<std::string, std::string> defaults{{"NCCL_ASYNC_ERROR_HANDLING", "1"},
                                              {"TORCH_NCCL_ASYNC_ERROR_HANDLING", "1"}};
  if (o.nproc_per_node > 1) defaults["OMP_NUM_THREADS"] = "1";
  const std::string interface =
      dist::interface_with_address(dist::local_address_toward(o.master_addr, master_port));
  if (!interface.empty()) defaults["NCCL_SOCKET_IFNAME"] = "=" + interface;  // "=": exactly this name
  return defaults;
}

}  // namespace

std::vector<std::string> worker_environment(const LaunchOptions& o, int local_rank,
                                            int master_port, int restart_count,
                                            const std::string& error_file) {
  const int rank = o.node_rank * o.nproc_per_node + local_rank;
  const int world_size = o.nnodes * o.nproc_per_node;
  std::map<std::string, std::string> set{
      {"RANK", std::to_string(rank)},
      {"LOCAL_RANK", std::to_string(local_rank)},
      {"WORLD_SIZE", std::to_string(world_size)},
      {"LOCAL_WORLD_SIZE", std::to_string(o.nproc_per_node)},
      {"GROUP_RANK", std::to_string(o.node_rank)},
      {"GROUP_WORLD_SIZE", std::to_string(o.nnodes)},
      {"ROLE_RANK", std::to_string(rank)},
      {"ROLE_WORLD_SIZE", std::to_string(world_size)},
      {"ROLE_NAME", "default"},
      {"MASTER_ADDR", o.master_addr},
      {"MASTER_PORT", std::to_string(master_port)},
      {"TORCHELASTIC_RESTART_COUNT", std::to_string(restart_count)},
      {"TORCHELASTIC_MAX_RESTARTS", std::to_string(o.max_restarts)},
      {"TORCHELASTIC_RUN_ID", o.run_id},
      {"TORCHELASTIC_USE_AGENT_STORE", "True"},
      {"TORCHELASTIC_ERROR_FILE", error_file},
      {"TRAINRT_RECOVERY", o.recovery},
  };
  if (o.min_nnodes > 0 && o.min_nnodes < o.nnodes) {
    set["TRAINRT_MIN_WORLD_SIZE"] = std::to_string(o.min_nnodes * o.nproc_per_node);
  }
  auto defaults = worker_defaults(o, master_port);
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    defaults.erase(name);  // the user's own setting wins
    if (!set.count(name)) env.push_back(entry);
  }
  for (const auto& [name, value] : set) env.push_back(name + "=" + value);
  for (const auto& [name, value] : defaults) env.push_back(name + "=" + value);
  return env;
}

namespace {

// Node 0 hosts the store the workers rendezvous through, on --master-addr only; it outlives
// restarts. Other nodes get none (null).
c10::intrusive_ptr<c10d::TCPStore> start_store(const LaunchOptions& options) {
  const int port_asked = options.standalone ? 0 : options.master_port;
  c10::intrusive_ptr<c10d::TCPStore> store;
  if (options.node_rank == 0) {
    try {
      store = dist::host_store(options.master_addr, port_asked, std::chrono::minutes(5));
    } catch (const Error& e) {
      throw Error(e.kind(), std::string("trainrt launch: ") + e.what());
    }
  }
  return store;
}

// The launcher's own folder for the workers' error files: mkdtemp's, mode 0700 under a name no
// one can take first. A predictable /tmp/trainrt-launch-<pid> could be created by another user
// first, who could then plant links where the workers write and the launcher reads.
std::string make_error_folder() {
  std::string folder = (std::filesystem::temp_directory_path() / "trainrt-launch-XXXXXX").string();
  if (!mkdtemp(folder.data())) {
    throw IoError(with_errno(fmt::format("trainrt launch: cannot create a folder for the workers' "
                                         "error files like '{}'", folder)));
  }
  return folder;
}

std::string describe_node(const LaunchOptions& options, int port, bool hosts_store) {
  return fmt::format("node {} of {}: {} workers, ranks {}..{} of {}, store at {}:{}{}",
                     options.node_rank, options.nnodes, options.nproc_per_node,
                     options.node_rank * options.nproc_per_node,
                     (options.node_rank + 1) * options.nproc_per_node - 1,
                     options.nnodes * options.nproc_per_node, options.master_addr, port,
                     hosts_store ? " (hosted here)" : "");
}

// One attempt's workers and the error file each was told to write.
struct Group {
  std::vector<std::unique_ptr<WorkerProcess>> workers;
  std::vector<std::string> error_files;
};

// Starts local worker `local` of `attempt` (the restart count it is told) into `group`'s slot.
void start_worker(const LaunchOptions& options, int port, int attempt, int local,
                  const std::string& error_dir, const std::shared_ptr<OutputSink>& sink, Group& group) {
  const std::string attempt_dir = fmt::format("{}/attempt_{}", error_dir, attempt);
  std::filesystem::create_directories(attempt_dir);
  const int rank = options.node_rank * options.nproc_per_node + local;
  const std::string error_file = fmt::format("{}/rank_{}.json", attempt_dir, rank);
  const std::string log = options.log_dir.empty() ? std::string()
                                                  : fmt::format("{}/rank_{}.log", options.log_dir, rank);
  auto worker = std::make_unique<WorkerProcess>(
      options.program, worker_environment(options, local, port, attempt, error_file),
      fmt::format("[rank {}] ", rank), sink, log);
  if (static_cast<int>(group.workers.size()) <= local) {
    group.workers.resize(local + 1);
    group.error_files.resize(local + 1);
  }
  group.workers[local] = std::move(worker);
  group.error_files[local] = error_file;
}

Group start_group(const LaunchOptions& options, int port, int attempt, const std::string& error_dir,
                  const std::shared_ptr<OutputSink>& sink) {
  Group group;
  for (int local = 0; local < options.nproc_per_node; ++local) {
    start_worker(options, port, attempt, local, error_dir, sink, group);
  }
  return group;
}

// SIGUSR1 and SIGUSR2 received since the last look, sent on to every running worker.
void pass_on_signals(const Group& group) {
  for (int signal : take_passed_on_signals()) {
    for (const auto& worker : group.workers) {
      if (worker) worker->notify(signal);
    }
  }
}

// A rank was lost: trainrt's own workers are asked (SIGUSR1) to dump their collectives' flight
// records (dist/flight_recorder.h), which show what each was doing then, whatever it does next.
// Only trainrt's: SIGUSR1's default action ends a program that does not expect it.
void ask_for_flight_records(const LaunchOptions& options, const Group& group) {
  const auto& program = options.program;
  const bool trainrt_workers = program.size() > 1 && program[1] == "train" &&
                               std::filesystem::path(program[0]).filename() == "trainrt";
  if (!trainrt_workers) return;
  for (const auto& worker : group.workers) {
    if (worker && !worker->poll()) worker->notify(SIGUSR1);
  }
}

// Watches until all succeeded, one failed (then `failure` names it), or the launcher was asked
// to stop.
Outcome watch_group(const LaunchOptions& options, const Group& group, Failure& failure) {
  const auto& workers = group.workers;
  while (true) {
    if (stop_signal()) return Outcome::kSignalled;
    pass_on_signals(group);
    bool running = false;
    std::vector<int> failed_now;
    for (int local = 0; local < options.nproc_per_node; ++local) {
      auto status = workers[local]->poll();
      if (!status) {
        running = true;
      } else if (!status->ok()) {
        failed_now.push_back(local);
      }
    }
    if (!failed_now.empty()) {
      ask_for_flight_records(options, group);
      // Of workers that failed within one poll, the one killed by a signal is the likelier
      // cause (the others typically report the peer they lost); else the lowest rank.
      int first = failed_now.front();
      for (int local : failed_now) {
        if (workers[local]->poll()->signal && !workers[first]->poll()->signal) first = local;
      }
      failure.local_rank = first;
      failure.rank = options.node_rank * options.nproc_per_node + first;
      failure.status = *workers[first]->poll();
      return Outcome::kFailed;
    }
    if (!running) return Outcome::kSucceeded;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Stops whatever still runs: the forwarded signal (or SIGTERM), then SIGKILL after the grace.
void stop_group(const LaunchOptions& options, const Group& group, Outcome outcome) {
  const auto& workers = group.workers;
  const int signal = outcome == Outcome::kSignalled ? signal_for_workers(stop_signal()) : SIGTERM;
  for (auto& worker : workers) {
    worker->signal(signal);
    worker->signal(SIGCONT);  // a stopped worker (SIGSTOP, ^Z) gets the signal only once continued
  }
  const auto deadline = Clock::now() + options.stop_grace;
  auto all_exited = [&] {
    for (auto& worker : workers) {
      if (!worker->poll()) return false;
    }
    return true;
  };
  while (!all_exited() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  for (auto& worker : workers) worker->signal(SIGKILL);
  while (!all_exited()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

std::string signal_name(int signal) {
  return std::string("SIG") + (sigabbrev_np(signal) ? sigabbrev_np(signal) : "?");
}

std::string describe_stop(int signal) {
  const int forwarded = signal_for_workers(signal);
  return fmt::format("stopped by signal {} ({}), forwarded to the workers{}", signal, signal_name(signal),
                     forwarded == signal ? "" : " as " + signal_name(forwarded));
}

std::string describe_restart(const LaunchOptions& options, const Failure& failure, int attempt) {
  return fmt::format("rank {} failed ({}){}; restarting the group (restart {} of {})", failure.rank,
                     failure.status.describe(),
                     failure.cause.empty() ? "" : ": " + failure.cause.substr(0, failure.cause.find('\n')),
                     attempt + 1, options.max_restarts);
}

// The final report when no restarts remain: rank, status, cause and the tail of its output.
std::string describe_final_failure(const LaunchOptions& options, const Failure& failure) {
  std::string report = fmt::format(
      "rank {} (local rank {} on node {}) failed: {}; {}", failure.rank, failure.local_rank,
      options.node_rank, failure.status.describe(),
      options.max_restarts == 0 ? "no restarts allowed (--max-restarts 0)"
                                : fmt::format("all {} restarts used", options.max_restarts));
  if (!failure.cause.empty()) report += "\n  cause: " + failure.cause;
  if (!failure.tail.empty()) {
    report += "\n  last lines of its output:";
    for (const auto& line : failure.tail) report += "\n    " + line;
  }
  return report;
}

// The job's store scope for what the launcher tells the workers (lost/<rank>, a spare's rank):
// node 0's own server, else a client of node 0's, connected when first needed.
class JobStore {
 public:
  JobStore(const LaunchOptions& options, int port, c10::intrusive_ptr<c10d::Store> server,
           std::string scope)
      : options_(options), port_(port), server_(std::move(server)), scope_(std::move(scope)) {}

  // Returns "" or why the key could not be set.
  std::string set(const std::string& key, const std::string& value) {
    try {
      if (!store_) {
        c10::intrusive_ptr<c10d::Store> base = server_;
        if (!base) {
          c10d::TCPStoreOptions client;
          client.port = static_cast<std::uint16_t>(port_);
          client.isServer = false;
          client.timeout = std::chrono::seconds(5);
          base = c10::make_intrusive<c10d::TCPStore>(options_.master_addr, client);
        }
        store_ = c10::make_intrusive<c10d::PrefixStore>(scope_, base);
      }
      store_->set(key, std::vector<uint8_t>(value.begin(), value.end()));
      return "";
    } catch (const std::exception& e) {
      const std::string cause = e.what();
      return cause.substr(0, cause.find('\n'));
    }
  }

 private:
  const LaunchOptions& options_;
  int port_;
  c10::intrusive_ptr<c10d::Store> server_;
  std::string scope_;
  c10::intrusive_ptr<c10d::Store> store_;
};

// A spare worker (dist/spare.h): started like local rank 0, it waits for a failed worker's rank.
struct Spare {
  std::unique_ptr<WorkerProcess> process;
  std::string name;
  std::string error_file;
};

Spare start_spare(const LaunchOptions& options, int port, int number, const std::string& error_dir,
                  const std::shared_ptr<OutputSink>& sink) {
  Spare spare;
  spare.name = fmt::format("{}-{}", options.node_rank, number);
  std::filesystem::create_directories(error_dir);
  spare.error_file = fmt::format("{}/spare_{}.json", error_dir, spare.name);
  auto env = worker_environment(options, 0, port, 0, spare.error_file);
  env.push_back("TRAINRT_SPARE=" + spare.name);
  const std::string log = options.log_dir.empty() ? std::string()
                                                  : fmt::format("{}/spare_{}.log", options.log_dir, spare.name);
  spare.process = std::make_unique<WorkerProcess>(options.program, env, fmt::format("[spare {}] ", spare.name),
                                                  sink, log);
  return spare;
}

int spares_wanted(const LaunchOptions& options) {
  if (options.spares >= 0) return options.spares;
  return options.max_restarts > 0 ? 1 : 0;  // the default: one warm replacement when any is allowed
}

// --recovery memory: each failed worker is reported in the store at once and replaced alone while
// restarts remain (by a spare, when one is ready); the others keep training.
class ReplacingWatch {
 public:
  ReplacingWatch(const LaunchOptions& options, int port, std::string error_dir,
                 std::shared_ptr<OutputSink> sink, JobStore& store,
                 std::function<void(const std::string&)> say)
      : options_(options), port_(port), error_dir_(std::move(error_dir)), sink_(std::move(sink)),
        store_(store), say_(std::move(say)), gone_(options.nproc_per_node, false) {}

  // Watches until every worker has ended (or a signal came); returns the launcher's exit status.
  int run() {
    group_ = start_group(options_, port_, 0, error_dir_, sink_);
    top_up_spares();
    while (true) {
      if (stop_signal()) {
        stop_spares();
        stop_group(options_, group_, Outcome::kSignalled);
        say_(describe_stop(stop_signal()));
        return 128 + stop_signal();
      }
      pass_on_signals(group_);
      bool running = false;
      for (int local = 0; local < options_.nproc_per_node; ++local) {
        if (gone_[local]) continue;
        const auto status = group_.workers[local]->poll();
        if (!status) {
          running = true;
        } else if (status->ok()) {
          any_succeeded_ = true;
        } else {
          running |= handle_failure(local, *status);
        }
      }
      if (!running) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    stop_spares();
    return final_status();
  }

 private:
  // Reports worker `local`'s failure and replaces it if it may; whether a replacement runs.
  bool handle_failure(int local, const ExitStatus& status) {
    Failure failure;
    failure.local_rank = local;
    failure.rank = options_.node_rank * options_.nproc_per_node + local;
    failure.status = status;
    // Once a worker finished, the job is over: a replacement would wait for it in vain.
    const bool replace = restarts_ < options_.max_restarts && !any_succeeded_;
    // Reported before anything else: the survivors' rendezvous reads it.
    const std::string unreported =
        store_.set(dist::lost_key(failure.rank), (replace ? "replacing: " : "gone: ") + status.describe());
    if (!unreported.empty()) {
      say_(fmt::format("cannot tell the store that rank {} is lost: {}", failure.rank, unreported));
    }
    ask_for_flight_records(options_, group_);
    failure.cause = dist::read_error_message(group_.error_files[local]);
    failure.tail = group_.workers[local]->tail();
    const std::string why = failure.cause.empty() ? "" : ": " + failure.cause.substr(0, failure.cause.find('\n'));
    if (!replace) {
      gone_[local] = true;
      if (!first_failure_) first_failure_ = failure;
      say_(fmt::format("rank {} failed ({}){}; {}: the others go on without it if their "
                       "distributed.min_world_size allows", failure.rank, status.describe(), why,
                       options_.max_restarts == 0 ? "no restarts allowed (--max-restarts 0)"
                                                  : fmt::format("all {} restarts used", options_.max_restarts)));
      return false;
    }
    ++restarts_;
    const std::string spare = take_spare(failure.rank, local);
    say_(fmt::format("rank {} failed ({}){}; replacing it{} while the others keep training (restart "
                     "{} of {})", failure.rank, status.describe(), why,
                     spare.empty() ? "" : " with spare " + spare, restarts_, options_.max_restarts));
    if (spare.empty()) start_worker(options_, port_, restarts_, local, error_dir_, sink_, group_);
    top_up_spares();
    return true;
  }

  // A spare still waiting takes rank `rank` in worker `local`'s place; its name, or "" if none did.
  std::string take_spare(int rank, int local) {
    auto ready = std::find_if(spares_.begin(), spares_.end(), [](Spare& s) { return !s.process->poll(); });
    if (ready == spares_.end() ||
        !store_.set(dist::spare_assignment_key(ready->name), fmt::format("{} {}", rank, local)).empty()) {
      return "";
    }
    const std::string name = ready->name;
    ready->process->relabel(fmt::format("[rank {}] ", rank));
    group_.workers[local] = std::move(ready->process);
    group_.error_files[local] = ready->error_file;
    spares_.erase(ready);
    return name;
  }

  void top_up_spares() {
    // A spare that died (it prints why) is dropped and another started.
    spares_.erase(std::remove_if(spares_.begin(), spares_.end(),
                                 [](Spare& s) { return s.process->poll().has_value(); }),
                  spares_.end());
    // No more spares than restarts left to use them.
    while (static_cast<int>(spares_.size()) < std::min(spares_wanted(options_), options_.max_restarts - restarts_)) {
      spares_.push_back(start_spare(options_, port_, spares_started_++, error_dir_, sink_));
    }
  }

  void stop_spares() {
    for (auto& spare : spares_) spare.process->signal(SIGKILL);
    spares_.clear();
  }

  int final_status() {
    if (!first_failure_) {
      say_("all workers finished");
      return 0;
    }
    if (std::find(gone_.begin(), gone_.end(), false) != gone_.end()) {  // some finished without it
      say_(fmt::format("the workers finished without rank {}, lost at {}", first_failure_->rank,
                       first_failure_->status.describe()));
      return 0;
    }
    say_(describe_final_failure(options_, *first_failure_));
    return first_failure_->status.shell_code() == 0 ? 1 : first_failure_->status.shell_code();
  }

  const LaunchOptions& options_;
  const int port_;
  const std::string error_dir_;
  const std::shared_ptr<OutputSink> sink_;
  JobStore& store_;
  const std::function<void(const std::string&)> say_;
  Group group_;
  std::vector<bool> gone_;  // failed and not replaced
  std::optional<Failure> first_failure_;
  int restarts_ = 0;
  int spares_started_ = 0;
  bool any_succeeded_ = false;
  std::vector<Spare> spares_;
};

}  // namespace

int launch(const LaunchOptions& options) {
  validate(options);
  c10::intrusive_ptr<c10d::TCPStore> store = start_store(options);
  const int port = store ? store->getPort() : options.master_port;
  if (!options.log_dir.empty()) std::filesystem::create_directories(options.log_dir);
  const std::string error_dir = make_error_folder();
  // The workers' error files are read by now; a folder left behind in the temp dir is harmless.
  auto remove_error_files = [&error_dir] {
    std::error_code ignored;
    remove_tree(error_dir, ignored);
  };
  auto sink = std::make_shared<OutputSink>(options.out);
  catch_launcher_signals();
  auto say = [&](const std::string& text) { sink->write_line("trainrt launch: " + text); };
  say(describe_node(options, port, static_cast<bool>(store)));
  if (options.recovery == "memory") {
    JobStore job_store(options, port, store, dist::job_scope(options.run_id, /*memory_recovery=*/true, 0));
    const int status = ReplacingWatch(options, port, error_dir, sink, job_store, say).run();
    remove_error_files();
    return status;
  }

  Failure failure;
  for (int attempt = 0;; ++attempt) {
    const Group group = start_group(options, port, attempt, error_dir, sink);
    const Outcome outcome = watch_group(options, group, failure);
    if (outcome == Outcome::kFailed) {
      // The survivors' failed collectives name the lost rank from this at once (dist/heartbeat.h).
      JobStore(options, port, store, dist::job_scope(options.run_id, false, attempt))
          .set(dist::lost_key(failure.rank), "restarting: " + failure.status.describe());
    }
    stop_group(options, group, outcome);

    if (outcome == Outcome::kSucceeded) {
      say("all workers finished");
      remove_error_files();
      return 0;
    }
    if (outcome == Outcome::kSignalled) {
      const int signal = stop_signal();
      say(describe_stop(signal));
      remove_error_files();
      return 128 + signal;
    }
    failure.cause = dist::read_error_message(group.error_files[failure.local_rank]);
    failure.tail = group.workers[failure.local_rank]->tail();
    if (attempt < options.max_restarts) {
      say(describe_restart(options, failure, attempt));
      continue;
    }
    say(describe_final_failure(options, failure));
    remove_error_files();
    return failure.status.shell_code() == 0 ? 1 : failure.status.shell_code();
  }
}

}  // namespace trainrt::launch
