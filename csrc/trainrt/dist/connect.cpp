#include "trainrt/dist/connect.h"

#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "trainrt/core/error.h"
#include "trainrt/dist/gloo_communicator.h"
#include "trainrt/dist/nccl_communicator.h"
#include "trainrt/dist/rendezvous.h"

namespace trainrt::dist {
namespace {

// Which backend files CMake compiled in; a backend's factory is referenced only where its flag
// is set, so the one not built is never linked.
constexpr bool kWithGloo = TRAINRT_WITH_GLOO;
constexpr bool kWithNccl = TRAINRT_WITH_NCCL;

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

// The address Gloo binds: loopback for a single-node job on loopback, else this host's name (what
// PyTorch does), which must resolve to an address the other nodes can reach.
std::string gloo_bind_host(const WorkerIdentity& identity) {
  if (is_loopback(identity.master_addr)) return "127.0.0.1";
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

std::shared_ptr<Communicator> connect(const WorkerIdentity& identity,
                                      const config::DistributedConfig& config, bool cuda) {
  const std::string backend = chosen_backend(config, cuda);
  const auto timeout = collective_timeout(config);
  auto store = rendezvous(identity, timeout);
  if constexpr (kWithGloo) {
    if (backend == "gloo") {
      return make_gloo_communicator(store, identity.rank, identity.world_size,
                                    gloo_bind_host(identity), timeout);
    }
  }
  if constexpr (kWithNccl) {
    if (backend == "nccl") {
      return make_nccl_communicator(store, identity.rank, identity.world_size, timeout);
    }
  }
  throw Error(Error::Kind::kInternal, "unreachable: backend " + backend);
}

}  // namespace trainrt::dist
