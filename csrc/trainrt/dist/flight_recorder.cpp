#include "trainrt/dist/flight_recorder.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <cstdio>
#include <mutex>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "trainrt/core/error.h"

namespace trainrt::dist {
namespace {

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

thread_local std::string current_purpose;

// The recorders alive in this process, for dump_all (SIGUSR1). A plain std::mutex: taken in
// constructors, destructors and the signal thread, never around anything that blocks.
std::mutex& registry_mutex() {
  static std::mutex mutex;
  return mutex;
}
std::set<const FlightRecorder*>& registry() {
  static std::set<const FlightRecorder*> recorders;
  return recorders;
}

std::optional<FlightDumpReceipt>& last_dump() {  // under registry_mutex()
  static std::optional<FlightDumpReceipt> receipt;
  return receipt;
}

const char* state_name(FlightEntry::State state) {
  switch (state) {
    case FlightEntry::State::kCompleted: return "completed";
    case FlightEntry::State::kFailed: return "failed";
    case FlightEntry::State::kInFlight: break;
  }
  return "in flight";
}

FlightEntry::State state_from_name(const std::string& name, const std::string& source) {
  if (name == "completed") return FlightEntry::State::kCompleted;
  if (name == "failed") return FlightEntry::State::kFailed;
  if (name == "in flight") return FlightEntry::State::kInFlight;
  throw Error(Error::Kind::kData, fmt::format("{}: unknown collective state '{}'", source, name));
}

// Writes `text` to `path` by way of a temporary file in the same folder: a reader never sees half
// a dump. Returns false on any failure.
bool write_atomically(const std::string& path, const std::string& text) {
  const std::string staging = path + ".tmp";
  const int fd = ::open(staging.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  // No fsync: a dump must outlive its process, not its machine, and it sits on the way out of a
  // failure that recovery from memory wants over within a second.
  const bool ok = written == text.size();
  ::close(fd);
  return ok && std::rename(staging.c_str(), path.c_str()) == 0;
}

}  // namespace

FlightRecorder::FlightRecorder(std::string dir, int id, int rank, int world_size, std::string group,
                               size_t capacity)
    : dir_(std::move(dir)), id_(id), rank_(rank), world_size_(world_size), group_(std::move(group)),
      capacity_(capacity == 0 ? 1 : capacity) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry().insert(this);
}

FlightRecorder::~FlightRecorder() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry().erase(this);
}

uint64_t FlightRecorder::issued(std::string op, std::string dtype, int64_t bytes) {
  FlightEntry entry;
  entry.op = std::move(op);
  entry.dtype = std::move(dtype);
  entry.bytes = bytes;
  entry.purpose = CollectivePurpose::current();
  entry.issued_us = now_us();
  MutexLock lock(mutex_);
  entry.seq = next_seq_++;
  if (ring_.size() == capacity_) ring_.pop_front();
  ring_.push_back(std::move(entry));
  return ring_.back().seq;
}

void FlightRecorder::completed(uint64_t seq, bool ok) {
  const int64_t now = now_us();
  MutexLock lock(mutex_);
  if (ring_.empty() || seq < ring_.front().seq) return;  // fell out of the ring
  auto& entry = ring_[seq - ring_.front().seq];
  if (entry.state != FlightEntry::State::kInFlight) return;
  entry.state = ok ? FlightEntry::State::kCompleted : FlightEntry::State::kFailed;
  entry.completed_us = now;
}

FlightDump FlightRecorder::snapshot(const std::string& reason) const {
  FlightDump dump;
  dump.id = id_;
  dump.rank = rank_;
  dump.world_size = world_size_;
  dump.group = group_;
  dump.reason = reason;
  dump.dumped_us = now_us();
  MutexLock lock(mutex_);
  dump.entries.assign(ring_.begin(), ring_.end());
  return dump;
}

std::optional<FlightDumpReceipt> FlightRecorder::write_dump(const std::string& reason) const {
  if (dir_.empty()) return std::nullopt;
  try {
    std::error_code ignored;  // a rank other than 0 may not have made the run directory
    std::filesystem::create_directories(dir_, ignored);
    FlightDump dump = snapshot(reason);
    {
      // The first reason stays: a failed collective's message names the rank it lost, and a later
      // dump (SIGUSR1 from the launcher, the watchdog) must not hide it.
      MutexLock lock(mutex_);
      if (first_reason_.empty()) first_reason_ = reason;
      if (reason != first_reason_) dump.reason = first_reason_ + "; dumped again for: " + reason;
    }
    if (!write_atomically(flight_dump_path(dir_, id_), flight_dump_to_json(dump))) return std::nullopt;
    return FlightDumpReceipt{dir_, group_, id_, world_size_, dump.dumped_us};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string FlightRecorder::dump(const std::string& reason) const {
  const auto receipt = write_dump(reason);
  if (!receipt) return "";
  std::lock_guard<std::mutex> lock(registry_mutex());
  last_dump() = receipt;
  return flight_dump_path(dir_, id_);
}

std::vector<std::string> FlightRecorder::dump_all(const std::string& reason) {
  std::vector<std::string> paths;
  // Held throughout, so that no recorder is destroyed while it dumps (a recovery may replace the
  // communicator, and its recorder, while the signal thread runs this).
  std::lock_guard<std::mutex> lock(registry_mutex());
  for (const auto* recorder : registry()) {
    if (auto receipt = recorder->write_dump(reason)) {
      paths.push_back(flight_dump_path(receipt->dir, receipt->id));
      last_dump() = std::move(receipt);
    }
  }
  return paths;
}

std::optional<FlightDumpReceipt> last_flight_dump() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  return last_dump();
}

CollectivePurpose::CollectivePurpose(std::string purpose)
    : previous_(std::exchange(current_purpose, std::move(purpose))) {}

CollectivePurpose::~CollectivePurpose() { current_purpose = std::move(previous_); }

const std::string& CollectivePurpose::current() { return current_purpose; }

std::string flight_dump_path(const std::string& dir, int id) {
  return fmt::format("{}/rank_{}.json", dir, id);
}

std::string flight_dump_to_json(const FlightDump& dump) {
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& entry : dump.entries) {
    entries.push_back({{"seq", entry.seq},
                       {"op", entry.op},
                       {"dtype", entry.dtype},
                       {"bytes", entry.bytes},
                       {"purpose", entry.purpose},
                       {"issued_us", entry.issued_us},
                       {"completed_us", entry.completed_us},
                       {"state", state_name(entry.state)}});
  }
  nlohmann::json json{{"id", dump.id},         {"rank", dump.rank},
                      {"world_size", dump.world_size}, {"group", dump.group},
                      {"reason", dump.reason}, {"dumped_us", dump.dumped_us},
                      {"entries", std::move(entries)}};
  return json.dump(1) + "\n";
}

FlightDump flight_dump_from_json(const std::string& text, const std::string& source) {
  const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) {
    throw Error(Error::Kind::kData, fmt::format("{}: not a flight recorder dump (not a JSON object)", source));
  }
  try {
    FlightDump dump;
    dump.id = json.at("id").get<int>();
    dump.rank = json.at("rank").get<int>();
    dump.world_size = json.at("world_size").get<int>();
    dump.group = json.at("group").get<std::string>();
    dump.reason = json.at("reason").get<std::string>();
    dump.dumped_us = json.at("dumped_us").get<int64_t>();
    for (const auto& item : json.at("entries")) {
      FlightEntry entry;
      entry.seq = item.at("seq").get<uint64_t>();
      entry.op = item.at("op").get<std::string>();
      entry.dtype = item.at("dtype").get<std::string>();
      entry.bytes = item.at("bytes").get<int64_t>();
      entry.purpose = item.at("purpose").get<std::string>();
      entry.issued_us = item.at("issued_us").get<int64_t>();
      entry.completed_us = item.at("completed_us").get<int64_t>();
      entry.state = state_from_name(item.at("state").get<std::string>(), source);
      dump.entries.push_back(std::move(entry));
    }
    return dump;
  } catch (const nlohmann::json::exception& e) {
    throw Error(Error::Kind::kData, fmt::format("{}: not a flight recorder dump: {}", source, e.what()));
  }
}

}  // namespace trainrt::dist
