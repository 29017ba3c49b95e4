#include "trainrt/dist/connect.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "trainrt/core/error.h"
#include "trainrt/dist/error_file.h"
#include "trainrt/dist/flight_report.h"
#include "trainrt/dist/gloo_communicator.h"
#include "trainrt/dist/heartbeat.h"
#include "trainrt/dist/local_route.h"
#include "trainrt/dist/nccl_communicator.h"
#include "trainrt/dist/rendezvous.h"

namespace trainrt::dist {
namespace {

// How long a rank whose watchdog fired waits for the others' flight dumps before it reports.
constexpr std::chrono::milliseconds kFlightReportWait{500};

// Which backend files CMake compiled in; a backend's factory is referenced only where its flag
// is set, so the one not built is never linked.
constexpr bool kWithGloo = TRAINRT_WITH_GLOO;
constexpr bool kWithNccl = TRAINRT_WITH_NCCL;

// The address Gloo binds: this host's address on the route to MASTER_ADDR (loopback for a job on
// loopback), which the other nodes can reach by construction (dist/local_route.h); else the host
// name, as PyTorch does.
std::string gloo_bind_host(const WorkerIdentity& identity) {
  if (auto address = local_address_toward(identity.master_addr, identity.master_port); !address.empty()) {
    return address;
  }
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "127.0.0.1";
  return name;
}

std::string chosen_backend(const config::DistributedConfig& config, bool cuda) {
  std::string backend = config.backend();
  if (backend == "auto") backend = cuda ? "nccl" : "gloo";
  const bool built = backend == "gloo" ? kWithGloo : kWithNccl;
  if (!built) {
    throw ConfigError(fmt::format(
        "distributed.backend: {} is not built into this trainrt (built: {}); {}", backend,
        built_backends().empty() ? std::string("none") : fmt::format("{}", fmt::join(built_backends(), ", ")),
        backend == "gloo" ? "install Gloo's headers (libgloo-dev) and rebuild"
                          : "build against a CUDA LibTorch with nccl.h"));
  }
  if (backend == "nccl" && !cuda) {
    throw ConfigError("distributed.backend: nccl needs CUDA tensors, but the model is on the CPU; "
                      "use gloo or auto");
  }
  return backend;
}

}  // namespace

std::vector<std::string> built_backends() {
  std::vector<std::string> backends;
  if (kWithGloo) backends.push_back("gloo");
  if (kWithNccl) backends.push_back("nccl");
  return backends;
}

std::chrono::milliseconds collective_timeout(const config::DistributedConfig& config) {
  return std::chrono::milliseconds(static_cast<int64_t>(config.timeout_seconds() * 1000.0));
}

ReducerOptions reducer_options(const config::DistributedConfig& config) {
  ReducerOptions options;
  options.limits.bucket_bytes = static_cast<size_t>(config.bucket_mb() * (1 << 20));
  options.limits.first_bucket_bytes = static_cast<size_t>(config.first_bucket_mb() * (1 << 20));
  if (config.grad_dtype() == "float16") options.wire_dtype = torch::kFloat16;
  if (config.grad_dtype() == "bfloat16") options.wire_dtype = torch::kBFloat16;
  return options;
}

std::shared_ptr<Communicator> make_communicator(const WorkerIdentity& identity,
                                                const config::DistributedConfig& config, bool cuda,
                                                const c10::intrusive_ptr<c10d::Store>& store,
                                                int rank, int world_size, Supervision supervision) {
  const std::string backend = chosen_backend(config, cuda);
  const auto timeout = collective_timeout(config);
  if constexpr (kWithGloo) {
    if (backend == "gloo") {
      return make_gloo_communicator(store, rank, world_size, gloo_bind_host(identity), timeout,
                                    std::move(supervision));
    }
  }
  if constexpr (kWithNccl) {
    if (backend == "nccl") {
      // NCCL picks its own interface and skips loopback: the one on the route to the store's host,
      // as Gloo binds, unless the user (or `trainrt launch`) chose. Workers of torchrun or Slurm
      // get it here.
      const std::string interface = interface_with_address(
          local_address_toward(identity.master_addr, identity.master_port));
      if (!interface.empty()) setenv("NCCL_SOCKET_IFNAME", ("=" + interface).c_str(), /*overwrite=*/0);
      return make_nccl_communicator(store, rank, world_size, timeout, std::move(supervision));
    }
  }
  throw Error(Error::Kind::kInternal, "unreachable: backend " + backend);
}

std::shared_ptr<Watchdog> make_watchdog(const WorkerIdentity& identity, std::chrono::milliseconds timeout,
                                        std::shared_ptr<FlightRecorder> flight) {
  const std::string error_file = identity.error_file;
  return std::make_shared<Watchdog>(2 * timeout, [error_file, flight](const std::string& message) {
    std::string report = message + "; aborting this process (a peer is stuck or gone)";
    if (flight && !flight->dump("watchdog: " + message).empty()) {
      if (const auto receipt = last_flight_dump()) report += flight_epilogue(*receipt, kFlightReportWait);
    }
    std::fprintf(stderr, "trainrt: error: %s\n", report.c_str());
    write_error_file(error_file, report);
    std::_Exit(1);
  });
}

std::shared_ptr<FlightRecorder> make_flight_recorder(const WorkerIdentity& identity, const std::string& dir,
                                                     int rank, int world_size, const std::string& group) {
  return std::make_shared<FlightRecorder>(dir, identity.rank, rank, world_size, group);
}

std::shared_ptr<Communicator> connect(const WorkerIdentity& identity,
                                      const config::DistributedConfig& config, bool cuda,
                                      const std::string& flight_dir) {
  chosen_backend(config, cuda);  // a backend not built fails before the rendezvous
  const auto timeout = collective_timeout(config);
  auto store = rendezvous(identity, timeout);
  Supervision supervision;
  supervision.flight = make_flight_recorder(identity, flight_dir, identity.rank, identity.world_size,
                                            fmt::format("restart {}", identity.restart_count));
  supervision.watchdog = make_watchdog(identity, timeout, supervision.flight);
  auto heartbeat = std::make_shared<Heartbeat>(connect_to_store(identity, timeout), identity.rank,
                                               identity.world_size);
  supervision.diagnose = [heartbeat] { return heartbeat->diagnose(); };
  return make_communicator(identity, config, cuda, store, identity.rank, identity.world_size,
                           std::move(supervision));
}

}  // namespace trainrt::dist
