// defines: SlurmCluster — a real one-node Slurm (munged, slurmctld, slurmd from Debian's packages)
// in a temporary folder, on free ports, started for a test and stopped with it.
#pragma once

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "dist/dist_test_util.h"
#include "integration/process_util.h"
#include "test_util.h"

namespace trainrt::testing {

class SlurmCluster {
 public:
  // Why a cluster cannot start here ("" if it can): the daemons are not installed, or this is not
  // root (slurmd starts the tasks as the submitting user; munged checks its key's owner).
  static std::string unavailable() {
    for (const char* program : {"/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/bin/srun"}) {
      if (access(program, X_OK) != 0) {
        return fmt::format("{} is not installed (tools/setup installs slurmctld, slurmd, slurm-client, munge)", program);
      }
    }
    if (geteuid() != 0) return "a test Slurm cluster needs root";
    return "";
  }

  // Starts the daemons and waits until the node takes jobs; `error()` says why not.
  SlurmCluster() {
    char name[256] = {};
    gethostname(name, sizeof(name) - 1);
    host_ = name;
    write_munge_key();
    munged_ = spawn_child({"/usr/sbin/munged", "--foreground", "--force", "--key-file=" + dir_ / "munge.key",
                           "--socket=" + socket(), "--pid-file=" + dir_ / "munged.pid",
                           "--seed-file=" + dir_ / "munged.seed", "--log-file=" + dir_ / "munged.log"},
                          {}, dir_ / "munged.out");
    // slurmctld and slurmd authenticate through munged from their first message.
    for (int i = 0; i < 100 && access(socket().c_str(), F_OK) != 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    mkdir((dir_ / "spool").c_str(), 0755);
    write_config();
    const std::string config = dir_ / "slurm.conf";
    slurmctld_ = spawn_child({"/usr/sbin/slurmctld", "-D", "-f", config}, {}, dir_ / "slurmctld.out");
    slurmd_ = spawn_child({"/usr/sbin/slurmd", "-D", "-f", config, "-N", host_}, {}, dir_ / "slurmd.out");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      const auto state = run_command(fmt::format("SLURM_CONF={} sinfo -h -o %T", config));
      if (state.exit_code == 0 && state.output.rfind("idle", 0) == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    error_ = "the Slurm node did not become idle within 60 s; slurmctld: " + read_file(dir_ / "slurmctld.out") +
             "\nslurmd: " + read_file(dir_ / "slurmd.out");
  }

  ~SlurmCluster() {
    for (Child* daemon : {&slurmd_, &slurmctld_, &munged_}) {
      if (daemon->pid > 0) kill(daemon->pid, SIGTERM);
      wait_child(*daemon, std::chrono::seconds(20));
    }
  }

  SlurmCluster(const SlurmCluster&) = delete;
  SlurmCluster& operator=(const SlurmCluster&) = delete;

  const std::string& error() const { return error_; }
  // The environment entry that points srun, sinfo and scancel at this cluster.
  std::string conf_env() const { return "SLURM_CONF=" + dir_ / "slurm.conf"; }

 private:
  std::string socket() const { return dir_ / "munge.socket"; }

  void write_munge_key() {
    std::random_device random;
    std::string key(1024, '\0');
    for (char& c : key) c = static_cast<char>(random());
    write_file(dir_ / "munge.key", key);
    chmod((dir_ / "munge.key").c_str(), 0400);
  }

  // One node, this host on loopback, that admits more tasks than it has cores (tests oversubscribe
  // a 2-core machine); no cgroups, accounting or MPI plugins.
  void write_config() {
    const std::string dir = dir_.path();
    write_file(dir_ / "slurm.conf", fmt::format(
        "ClusterName=trainrt-test\n"
        "SlurmctldHost={host}(127.0.0.1)\nSlurmctldPort={ctld_port}\nSlurmdPort={d_port}\n"
        "AuthType=auth/munge\nAuthInfo=socket={socket}\nCredType=cred/munge\n"
        "SlurmUser=root\nSlurmdUser=root\n"
        "StateSaveLocation={dir}\nSlurmdSpoolDir={dir}/spool\n"
        "SlurmctldPidFile={dir}/slurmctld.pid\nSlurmdPidFile={dir}/slurmd.pid\n"
        "SlurmctldLogFile={dir}/slurmctld.log\nSlurmdLogFile={dir}/slurmd.log\n"
        "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nSwitchType=switch/none\nMpiDefault=none\n"
        "SchedulerType=sched/builtin\nSelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n"
        "JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n"
        "ReturnToService=2\nSlurmdParameters=config_overrides\nInactiveLimit=0\nKillWait=5\n"
        "NodeName={host} NodeAddr=127.0.0.1 CPUs=8 State=UNKNOWN\n"
        "PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4\n",
        fmt::arg("host", host_), fmt::arg("ctld_port", free_port()), fmt::arg("d_port", free_port()),
        fmt::arg("socket", socket()), fmt::arg("dir", dir)));
  }

  TempDir dir_;
  std::string host_;
  Child munged_, slurmctld_, slurmd_;
  std::string error_;
};

}  // namespace trainrt::testing
