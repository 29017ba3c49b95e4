// defines: FlightRecorder, FlightEntry, FlightDump, CollectivePurpose
//
// The collectives flight recorder. Most hangs of data-parallel jobs are not the network: one rank
// issued a different collective, or one more, or stopped issuing them (PyTorch's own account of
// its NCCL watchdog timeouts). Every rank numbers its collectives within a group (the same
// number on every rank, since every rank issues them in the same order) and keeps the last ones
// in a ring: operation, element type, bytes, purpose, when issued and completed. When something
// goes wrong (the watchdog fires, a collective fails, SIGUSR1 arrives) each rank dumps its ring
// to `<dir>/rank_<id>.json`, and dist/flight_report.h compares the ranks' dumps: who is behind at
// which number, or who issued something else at the same number.
//
// What a collective is *for* comes from the caller's thread: a CollectivePurpose in scope names
// it ("gradient bucket 3", "stop agreement"), so the Communicator interface stays unchanged.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "trainrt/core/mutex.h"
#include "trainrt/core/thread_annotations.h"

namespace trainrt::dist {

struct FlightEntry {
  enum class State { kInFlight, kCompleted, kFailed };

  uint64_t seq = 0;      // this group's collectives, numbered alike on every rank from 0
  std::string op;        // "all_reduce", "broadcast", ...
  std::string dtype;     // "float32"; "" for a barrier
  int64_t bytes = 0;     // of this rank's input
  std::string purpose;   // "gradient bucket 3"; "" when the caller named none
  int64_t issued_us = 0;     // wall clock, microseconds since the epoch (a node's ranks compare)
  int64_t completed_us = 0;  // 0 while in flight
  State state = State::kInFlight;
};

// What a dump left behind, for the report at the process's end (the recorder is gone by then).
struct FlightDumpReceipt {
  std::string dir;
  std::string group;
  int id = 0;
  int world_size = 0;
  int64_t dumped_us = 0;
};

// One rank's ring as dumped; what dist/flight_report.h reads back.
struct FlightDump {
  int id = 0;          // the process's launched rank: its dump file's name (stable across recoveries)
  int rank = 0;        // its rank in `group`
  int world_size = 0;  // of `group`
  std::string group;   // which communicator, e.g. "generation 2"
  std::string reason;  // why it was dumped
  int64_t dumped_us = 0;
  std::vector<FlightEntry> entries;  // oldest first
};

class FlightRecorder {
 public:
  // `dir`: where dumps go ("" keeps the ring in memory only); `id`: the file's name, rank_<id>.json.
  FlightRecorder(std::string dir, int id, int rank, int world_size, std::string group,
                 size_t capacity = kDefaultCapacity);
  ~FlightRecorder();
  FlightRecorder(const FlightRecorder&) = delete;
  FlightRecorder& operator=(const FlightRecorder&) = delete;

  static constexpr size_t kDefaultCapacity = 2048;

  // A collective was issued; returns its number. The purpose is the calling thread's.
  uint64_t issued(std::string op, std::string dtype, int64_t bytes) EXCLUDES(mutex_);
  // It completed (ok) or failed. The first report of a number counts; later ones are ignored.
  void completed(uint64_t seq, bool ok) EXCLUDES(mutex_);

  FlightDump snapshot(const std::string& reason) const EXCLUDES(mutex_);
  const std::string& directory() const { return dir_; }
  // Writes the ring to <dir>/rank_<id>.json (write, fsync, rename); returns the path, or "" when
  // there is no directory. Never throws: it runs on the way out of a failure.
  std::string dump(const std::string& reason) const;

  // Every recorder alive in this process dumps (SIGUSR1: signals belong to the process, so this
  // one path is process-wide). Returns the paths written.
  static std::vector<std::string> dump_all(const std::string& reason);

 private:
  // Writes the dump file; the receipt, or nullopt when it could not (or there is no directory).
  std::optional<FlightDumpReceipt> write_dump(const std::string& reason) const;

  const std::string dir_;
  const int id_, rank_, world_size_;
  const std::string group_;
  const size_t capacity_;
  mutable Mutex mutex_;
  uint64_t next_seq_ GUARDED_BY(mutex_) = 0;
  std::deque<FlightEntry> ring_ GUARDED_BY(mutex_);  // seq-ordered: front is the oldest kept
  mutable std::string first_reason_ GUARDED_BY(mutex_);  // of the first dump written
};

// While in scope, the collectives this thread issues are recorded with `purpose`.
class CollectivePurpose {
 public:
  explicit CollectivePurpose(std::string purpose);
  ~CollectivePurpose();
  CollectivePurpose(const CollectivePurpose&) = delete;
  CollectivePurpose& operator=(const CollectivePurpose&) = delete;
  static const std::string& current();

 private:
  std::string previous_;
};

// The newest dump this process wrote (by any recorder); nullopt if none.
std::optional<FlightDumpReceipt> last_flight_dump();

// The file a rank's dump goes to.
std::string flight_dump_path(const std::string& dir, int id);

// Serialized form (JSON); parse errors throw trainrt::Error naming `source`.
std::string flight_dump_to_json(const FlightDump& dump);
FlightDump flight_dump_from_json(const std::string& text, const std::string& source);

}  // namespace trainrt::dist
