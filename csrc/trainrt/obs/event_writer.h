// defines: EventWriter, event_record, kEventFileVersion
//
// TensorBoard event files: `tensorboard --logdir RUN_DIR` plots what a run wrote. A file
// (events.out.tfevents.<seconds>.<host>) is a sequence of TFRecords, each
//   uint64 length | uint32 masked CRC-32C of the length | data | uint32 masked CRC-32C of the data
// (little-endian), the data being an Event message (obs/event.proto); the first holds the file
// version, the others scalars. Records are framed and written on a background thread, so adding
// scalars never waits for the disk. Needs ISA-L for the CRC (TRAINRT_WITH_TENSORBOARD).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace trainrt::obs {

inline constexpr const char* kEventFileVersion = "brain.Event:2";

// One TFRecord holding `data`.
std::string event_record(const std::string& data);

class EventWriter {
 public:
  using Scalars = std::vector<std::pair<std::string, double>>;

  // Creates `dir` if needed and a new event file in it. Throws trainrt::Error (kIo, or kConfig
  // when built without TensorBoard support) naming the file.
  explicit EventWriter(const std::string& dir);
  ~EventWriter();  // writes what is queued
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  // Queues one Event of `scalars` at `step` (tags like "train/loss").
  void add_scalars(int64_t step, const Scalars& scalars);
  // Blocks until everything queued is written and flushed.
  void flush();

  const std::string& path() const { return path_; }
  // The first write error ("" if none); later scalars are dropped after one.
  std::string error();

 private:
  void run();

  std::string path_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> queue_;  // serialized Events, guarded by mutex_
  bool writing_ = false;           // guarded by mutex_
  bool stop_ = false;              // guarded by mutex_
  std::string error_;              // guarded by mutex_
  std::thread thread_;
};

}  // namespace trainrt::obs
