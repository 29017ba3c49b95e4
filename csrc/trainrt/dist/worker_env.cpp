#include "trainrt/dist/worker_env.h"

#include <cerrno>
#include <cstdlib>
#include <limits>

#include <fmt/format.h>

#include "trainrt/core/error.h"

namespace trainrt::dist {
namespace {

Error env_error(const std::string& message) { return Error(Error::Kind::kDistributed, message); }

// A whole number in [lo, hi] from variable `name`; nullopt when unset.
std::optional<int> integer(const EnvLookup& env, const std::string& name, int lo, int hi) {
  const auto text = env(name);
  if (!text) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const long value = std::strtol(text->c_str(), &end, 10);
  if (text->empty() || *end != '\0' || errno == ERANGE) {
    throw env_error(fmt::format("{}='{}' is not a whole number", name, *text));
  }
  if (value < lo || value > hi) {
    throw env_error(fmt::format("{}={} is out of range ({}..{})", name, value, lo, hi));
  }
  return static_cast<int>(value);
}

int required(const EnvLookup& env, const std::string& name, const std::string& because, int lo,
             int hi) {
  const auto value = integer(env, name, lo, hi);
  if (!value) throw env_error(fmt::format("{} is not set, but {}", name, because));
  return *value;
}

void check_rank(const std::string& rank_name, int rank, const std::string& size_name, int size) {
  if (rank >= size) {
    throw env_error(fmt::format("{}={} is not below {}={}", rank_name, rank, size_name, size));
  }
}

// The rank and world size, which every launcher sets together.
void read_rank_and_size(const EnvLookup& env, WorkerIdentity& id, const std::string& source,
                        const std::string& rank_var, const std::string& size_var,
                        const std::string& launcher) {
  const std::string because = fmt::format("{} is set ({} set them together)", rank_var, launcher);
  id.source = source;
  id.rank = required(env, rank_var, because, 0, 1 << 24);
  id.world_size = required(env, size_var, because, 1, 1 << 24);
  check_rank(rank_var, id.rank, size_var, id.world_size);
}

void read_torchrun(const EnvLookup& env, WorkerIdentity& id) {
  read_rank_and_size(env, id, "torchrun", "RANK", "WORLD_SIZE", "torchrun and trainrt launch");
  id.local_rank = integer(env, "LOCAL_RANK", 0, 1 << 24).value_or(id.rank);
  id.local_world_size = integer(env, "LOCAL_WORLD_SIZE", 1, 1 << 24).value_or(id.world_size);
  check_rank("LOCAL_RANK", id.local_rank, "LOCAL_WORLD_SIZE", id.local_world_size);
  if (id.local_world_size > id.world_size) {
    throw env_error(fmt::format("LOCAL_WORLD_SIZE={} exceeds WORLD_SIZE={}", id.local_world_size,
                                id.world_size));
  }
  id.node_rank = integer(env, "GROUP_RANK", 0, 1 << 24).value_or(0);
  id.num_nodes = integer(env, "GROUP_WORLD_SIZE", 1, 1 << 24).value_or(id.world_size / id.local_world_size);
  check_rank("GROUP_RANK", id.node_rank, "GROUP_WORLD_SIZE", id.num_nodes);
  if (id.world_size > 1 && !env("MASTER_ADDR")) {
    throw env_error("MASTER_ADDR is not set, but WORLD_SIZE > 1: it names the host of rank 0's store");
  }
  id.launcher_hosts_store = env("TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
  id.restart_count = integer(env, "TORCHELASTIC_RESTART_COUNT", 0, 1 << 20).value_or(0);
  id.max_restarts = integer(env, "TORCHELASTIC_MAX_RESTARTS", 0, 1 << 20).value_or(0);
  id.run_id = env("TORCHELASTIC_RUN_ID").value_or("");
  id.error_file = env("TORCHELASTIC_ERROR_FILE").value_or("");
}

// Slurm's SLURM_TASKS_PER_NODE looks like "2(x3),1": the first node's count comes first.
int leading_count(const std::string& text) { return std::atoi(text.c_str()); }

void read_slurm(const EnvLookup& env, WorkerIdentity& id) {
  read_rank_and_size(env, id, "slurm", "SLURM_PROCID", "SLURM_NTASKS", "srun and sbatch");
  id.local_rank = integer(env, "SLURM_LOCALID", 0, 1 << 24).value_or(0);
  id.node_rank = integer(env, "SLURM_NODEID", 0, 1 << 24).value_or(0);
  id.num_nodes = integer(env, "SLURM_NNODES", 1, 1 << 24).value_or(1);
  check_rank("SLURM_NODEID", id.node_rank, "SLURM_NNODES", id.num_nodes);
  const auto per_node = env("SLURM_TASKS_PER_NODE");
  id.local_world_size = per_node ? std::max(1, leading_count(*per_node)) : id.world_size / id.num_nodes;
  check_rank("SLURM_LOCALID", id.local_rank, "the tasks per node", id.local_world_size);
  if (auto addr = env("MASTER_ADDR")) {
    id.master_addr = *addr;
  } else if (auto nodes = env("SLURM_JOB_NODELIST")) {
    id.master_addr = first_slurm_host(*nodes);
  } else if (id.num_nodes > 1) {
    throw env_error("neither MASTER_ADDR nor SLURM_JOB_NODELIST is set for a multi-node Slurm job");
  }
  // Without MASTER_PORT, a port from the job id: two jobs sharing a node do not collide (the
  // convention PyTorch Lightning uses). worker_identity_from() lets MASTER_PORT override it.
  if (auto job = integer(env, "SLURM_JOB_ID", 0, std::numeric_limits<int>::max())) {
    id.master_port = 15000 + *job % 10000;
  }
}

void read_openmpi(const EnvLookup& env, WorkerIdentity& id) {
  read_rank_and_size(env, id, "openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
                     "mpirun and mpiexec");
  id.local_rank = integer(env, "OMPI_COMM_WORLD_LOCAL_RANK", 0, 1 << 24).value_or(0);
  id.local_world_size = integer(env, "OMPI_COMM_WORLD_LOCAL_SIZE", 1, 1 << 24).value_or(id.world_size);
  check_rank("OMPI_COMM_WORLD_LOCAL_RANK", id.local_rank, "OMPI_COMM_WORLD_LOCAL_SIZE",
             id.local_world_size);
  id.num_nodes = std::max(1, id.world_size / id.local_world_size);
  id.node_rank = id.rank / id.local_world_size;
  if (id.num_nodes > 1 && !env("MASTER_ADDR")) {
    throw env_error("MASTER_ADDR is not set for a multi-node Open MPI job: set it (and MASTER_PORT) "
                    "to the host of rank 0, e.g. mpirun -x MASTER_ADDR=node01");
  }
}

}  // namespace

WorkerIdentity worker_identity_from(const EnvLookup& env) {
  WorkerIdentity id;
  if (env("RANK")) {
    read_torchrun(env, id);
  } else if (env("SLURM_PROCID")) {
    read_slurm(env, id);
  } else if (env("OMPI_COMM_WORLD_RANK")) {
    read_openmpi(env, id);
  } else if (env("WORLD_SIZE") || env("LOCAL_RANK")) {
    throw env_error("WORLD_SIZE or LOCAL_RANK is set but RANK is not: a partial torchrun "
                    "environment (launch with torchrun or trainrt launch, or unset them)");
  }
  if (auto addr = env("MASTER_ADDR")) id.master_addr = *addr;
  if (auto recovery = env("TRAINRT_RECOVERY")) {
    if (*recovery != "memory" && *recovery != "restart") {
      throw env_error(fmt::format("TRAINRT_RECOVERY='{}' is neither memory nor restart", *recovery));
    }
    id.recovery = *recovery;
  }
  id.min_world_size = integer(env, "TRAINRT_MIN_WORLD_SIZE", 1, 1 << 24).value_or(0);
  id.spare = env("TRAINRT_SPARE").value_or("");
  id.master_port = integer(env, "MASTER_PORT", 1, 65535).value_or(id.master_port);
  return id;
}

WorkerIdentity worker_identity() {
  return worker_identity_from([](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    return value ? std::optional<std::string>(value) : std::nullopt;
  });
}

std::string first_slurm_host(const std::string& nodelist) {
  const auto comma = nodelist.find(',');
  const auto bracket = nodelist.find('[');
  if (bracket == std::string::npos || (comma != std::string::npos && comma < bracket)) {
    return nodelist.substr(0, comma);
  }
  // prefix[03-05,9]suffix -> prefix03: the first number of the range list keeps its zero padding.
  const std::string prefix = nodelist.substr(0, bracket);
  const auto end = nodelist.find_first_of("-,]", bracket + 1);
  return prefix + nodelist.substr(bracket + 1, end - bracket - 1);
}

}  // namespace trainrt::dist
