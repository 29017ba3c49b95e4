// defines: EventWriter, event_record, kEventFileVersion
//
// TensorBoard event files: `tensorboard --logdir RUN_DIR` plots what a run wrote. A file
// (events.out.tfevents.<seconds>.<host>) is a sequence of TFRecords, each
//   uint64 length | uint32 masked CRC-32C of the length | data | uint32 masked CRC-32C of the data
// (little-endian), the data being an Event message (obs/event.proto); the first holds the file
// version, the others scalars. Records are framed and written on a background thread, so adding
// scalars never waits for the disk. Needs ISA-L for the CRC (TRAINRT_WITH_TENSORBOARD).
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "trainrt/core/background_thread.h"
#include "trainrt/core/mutex.h"
#include "trainrt/core/thread_annotations.h"

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
  void add_scalars(int64_t step, const Scalars& scalars) EXCLUDES(mutex_);
  // Blocks until everything queued is written and flushed.
  void flush() EXCLUDES(mutex_);

  const std::string& path() const { return path_; }
  // The first write error ("" if none); later scalars are dropped after one.
  std::string error() EXCLUDES(mutex_);

 private:
  void run() EXCLUDES(mutex_);  // the writer thread's body

  std::string path_;  // set by the constructor, before the thread starts
  Mutex mutex_;
  CondVar changed_;  // events queued or written, or the thread is asked to stop
  std::deque<std::string> queue_ GUARDED_BY(mutex_);  // serialized Events
  bool writing_ GUARDED_BY(mutex_) = false;           // a batch taken off the queue is being written
  std::string error_ GUARDED_BY(mutex_);
  BackgroundThread thread_;  // last: stopped before the members it uses go
};

}  // namespace trainrt::obs
