#include "trainrt/dist/rendezvous.h"

#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "trainrt/core/error.h"
#include "trainrt/dist/store_server.h"

namespace trainrt::dist {
namespace {

using Clock = std::chrono::steady_clock;

std::string arrival_key(int rank) { return fmt::format("arrived/{}", rank); }

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

c10::intrusive_ptr<c10d::Store> open_store(const WorkerIdentity& identity,
                                           std::chrono::milliseconds timeout, bool may_host) {
  if (may_host && identity.rank == 0 && !identity.launcher_hosts_store) {
    try {
      return host_store(identity.master_addr, identity.master_port, timeout);
    } catch (const Error& e) {
      throw Error(e.kind(), "rank 0: " + std::string(e.what()));
    }
  }
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(identity.master_port);
  options.isServer = false;
  options.timeout = timeout;
  // A client may start before rank 0 listens; c10d's own connect gives up early on a refused
  // connection when the timeout is short, so retry until the deadline.
  const auto deadline = Clock::now() + timeout;
  while (true) {
    try {
      return c10::make_intrusive<c10d::TCPStore>(identity.master_addr, options);
    } catch (const std::exception& e) {
      if (Clock::now() + std::chrono::milliseconds(100) < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        options.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        continue;
      }
      const std::string where = fmt::format("{}:{}", identity.master_addr, identity.master_port);
      throw Error(Error::Kind::kDistributed,
                  fmt::format("rank {}: cannot reach the rendezvous store at {} within {} s "
                              "(MASTER_ADDR, MASTER_PORT): {}; is rank 0 running there?",
                              identity.rank, where, timeout.count() / 1000.0, first_line(e.what())));
    }
  }
}

c10::intrusive_ptr<c10d::Store> scoped(const WorkerIdentity& identity,
                                       c10::intrusive_ptr<c10d::Store> store) {
  return c10::make_intrusive<c10d::PrefixStore>(
      job_scope(identity.run_id, identity.recovery == "memory", identity.restart_count), std::move(store));
}

}  // namespace

std::string job_scope(const std::string& run_id, bool memory_recovery, int restart_count) {
  if (memory_recovery) return fmt::format("trainrt/{}/memory/", run_id);
  return fmt::format("trainrt/{}/{}/", run_id, restart_count);
}

c10::intrusive_ptr<c10d::Store> open_job_store(const WorkerIdentity& identity,
                                               std::chrono::milliseconds timeout) {
  return scoped(identity, open_store(identity, timeout, /*may_host=*/true));
}

c10::intrusive_ptr<c10d::Store> connect_to_store(const WorkerIdentity& identity,
                                                 std::chrono::milliseconds timeout) {
  return scoped(identity, open_store(identity, timeout, /*may_host=*/false));
}

std::vector<int> missing_ranks(c10d::Store& store, int world_size) {
  std::vector<int> missing;
  for (int rank = 0; rank < world_size; ++rank) {
    if (!store.check({arrival_key(rank)})) missing.push_back(rank);
  }
  return missing;
}

c10::intrusive_ptr<c10d::Store> rendezvous(const WorkerIdentity& identity,
                                           std::chrono::milliseconds timeout) {
  auto store = scoped(identity, open_store(identity, timeout, /*may_host=*/true));
  std::vector<std::string> keys;
  for (int rank = 0; rank < identity.world_size; ++rank) keys.push_back(arrival_key(rank));
  const auto deadline = Clock::now() + timeout;
  try {
    store->set(arrival_key(identity.rank), std::vector<uint8_t>{1});
    while (!store->check(keys)) {
      if (Clock::now() >= deadline) {
        const auto missing = missing_ranks(*store, identity.world_size);
        throw Error(Error::Kind::kDistributed,
                    fmt::format("rank {}: rendezvous timed out after {} s: rank{} {} of {} did not "
                                "arrive at {}:{}; check that every worker was started and sees the "
                                "same MASTER_ADDR, MASTER_PORT and WORLD_SIZE",
                                identity.rank, timeout.count() / 1000.0,
                                missing.size() == 1 ? "" : "s", fmt::join(missing, ", "),
                                identity.world_size, identity.master_addr, identity.master_port));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(Error::Kind::kDistributed,
                fmt::format("rank {}: lost the rendezvous store at {}:{} while waiting for the other "
                            "ranks ({}); did its host (rank 0, unless a launcher hosts it) exit?",
                            identity.rank, identity.master_addr, identity.master_port,
                            first_line(e.what())));
  }
  return store;
}

}  // namespace trainrt::dist
