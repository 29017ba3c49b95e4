// defines: free_port, host_loopback_store, loopback_store_client, local_identity, gloo_config,
// run_ranks — ranks as threads of one test process, each with its own real TCP store client (rank 0
// hosts the store) and Gloo process group over loopback; and bare TCP stores on loopback for the
// tests of what uses one. Multi-process runs are in tests/integration/data_parallel_test.cpp.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "trainrt/config/trainrt.pb.h"
#include "trainrt/dist/communicator.h"
#include "trainrt/dist/connect.h"
#include "trainrt/dist/worker_env.h"

namespace trainrt::testing {

// A TCP port that was free a moment ago (the kernel's pick for port 0).
inline int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

// A TCP store hosted by this process at 127.0.0.1:`port` (as rank 0 or a launcher hosts one); it
// serves while referenced, and does not wait for workers.
inline c10::intrusive_ptr<c10d::TCPStore> host_loopback_store(int port) {
  c10d::TCPStoreOptions options;
  options.port = static_cast<uint16_t>(port);
  options.isServer = true;
  options.waitWorkers = false;
  return c10::make_intrusive<c10d::TCPStore>("127.0.0.1", options);
}

// A client of the TCP store at 127.0.0.1:`port`, whose operations give up after `timeout`.
inline c10::intrusive_ptr<c10d::TCPStore> loopback_store_client(
    int port, std::chrono::milliseconds timeout = c10d::Store::kDefaultTimeout) {
  c10d::TCPStoreOptions options;
  options.port = static_cast<uint16_t>(port);
  options.isServer = false;
  options.waitWorkers = false;
  options.timeout = timeout;
  return c10::make_intrusive<c10d::TCPStore>("127.0.0.1", options);
}

inline dist::WorkerIdentity local_identity(int rank, int world_size, int port) {
  dist::WorkerIdentity identity;
  identity.source = "test";
  identity.rank = identity.local_rank = rank;
  identity.world_size = identity.local_world_size = world_size;
  identity.master_addr = "127.0.0.1";
  identity.master_port = port;
  return identity;
}

inline config::DistributedConfig gloo_config(double timeout_seconds = 30) {
  config::DistributedConfig config;
  config.set_backend("gloo");
  config.set_timeout_seconds(timeout_seconds);
  return config;
}

using RankBody = std::function<void(int, const std::shared_ptr<dist::Communicator>&)>;

// Runs `body(rank, communicator)` for `world_size` ranks, one thread each, and rethrows the first
// rank's exception (if any) after all have finished.
inline void run_ranks(int world_size, const RankBody& body,
                      const config::DistributedConfig& config = gloo_config()) {
  const int port = free_port();
  std::vector<std::exception_ptr> errors(world_size);
  std::vector<std::thread> threads;
  for (int rank = 0; rank < world_size; ++rank) {
    threads.emplace_back([&, rank] {
      try {
        auto communicator = dist::connect(local_identity(rank, world_size, port), config, false);
        body(rank, communicator);
      } catch (...) {
        errors[rank] = std::current_exception();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
}

}  // namespace trainrt::testing
