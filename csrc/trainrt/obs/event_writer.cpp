#include "trainrt/obs/event_writer.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "trainrt/core/error.h"
#include "trainrt/obs/event.pb.h"

#if TRAINRT_WITH_TENSORBOARD
#include <isa-l/crc.h>
#endif

namespace trainrt::obs {
namespace {

double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// TFRecord's checksum: CRC-32C, rotated and offset so that a CRC of data holding CRCs stays strong.
uint32_t masked_crc32c(const char* data, size_t size) {
#if TRAINRT_WITH_TENSORBOARD
  const uint32_t crc = ~crc32_iscsi(reinterpret_cast<unsigned char*>(const_cast<char*>(data)),
                                    static_cast<int>(size), 0xFFFFFFFFu);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
#else
  (void)data;
  (void)size;
  throw ConfigError("TensorBoard event files: this trainrt was built without ISA-L (libisal-dev)");
#endif
}

void append_le(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

std::string host_name() {
  char name[256] = {};
  return gethostname(name, sizeof(name) - 1) == 0 ? name : "localhost";
}

}  // namespace

std::string event_record(const std::string& data) {
  std::string record;
  record.reserve(data.size() + 16);
  append_le(record, data.size(), 8);
  append_le(record, masked_crc32c(record.data(), 8), 4);
  record += data;
  append_le(record, masked_crc32c(data.data(), data.size()), 4);
  return record;
}

EventWriter::EventWriter(const std::string& dir) {
  if (!TRAINRT_WITH_TENSORBOARD) {
    throw ConfigError("observe.tensorboard: this trainrt was built without ISA-L (libisal-dev), "
                      "which event files need; set observe.tensorboard: false");
  }
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  path_ = fmt::format("{}/events.out.tfevents.{}.{}", dir, static_cast<int64_t>(unix_seconds()), host_name());
  // The file exists (with its version record) before the constructor returns.
  std::FILE* file = std::fopen(path_.c_str(), "wb");
  if (!file) throw IoError(with_errno(fmt::format("cannot create '{}'", path_)));
  Event version;
  version.set_wall_time(unix_seconds());
  version.set_file_version(kEventFileVersion);
  const std::string record = event_record(version.SerializeAsString());
  const bool ok = std::fwrite(record.data(), 1, record.size(), file) == record.size();
  if (std::fclose(file) != 0 || !ok) throw IoError(with_errno(fmt::format("cannot write '{}'", path_)));
  thread_.start([this] { run(); }, [this] {
    MutexLock lock(mutex_);
    changed_.notify_all();
  });
}

EventWriter::~EventWriter() { thread_.stop(); }  // run() writes what is queued before it returns

void EventWriter::add_scalars(int64_t step, const Scalars& scalars) {
  Event event;
  event.set_wall_time(unix_seconds());
  event.set_step(step);
  for (const auto& [tag, value] : scalars) {
    auto* entry = event.mutable_summary()->add_value();
    entry->set_tag(tag);
    entry->set_simple_value(static_cast<float>(value));
  }
  {
    MutexLock lock(mutex_);
    if (!error_.empty()) return;
    queue_.push_back(event.SerializeAsString());
  }
  changed_.notify_all();
}

void EventWriter::flush() {
  MutexLock lock(mutex_);
  while (!queue_.empty() || writing_) changed_.wait(lock);
}

std::string EventWriter::error() {
  MutexLock lock(mutex_);
  return error_;
}

void EventWriter::run() {
  std::FILE* file = std::fopen(path_.c_str(), "ab");
  MutexLock lock(mutex_);
  if (!file) error_ = with_errno(fmt::format("cannot open '{}'", path_));
  while (true) {
    while (!thread_.stop_requested() && queue_.empty()) changed_.wait(lock);
    if (queue_.empty()) break;  // stopping, all written
    std::deque<std::string> batch;
    batch.swap(queue_);
    writing_ = true;
    lock.unlock();
    std::string failure;
    for (const auto& data : batch) {
      const std::string record = event_record(data);
      if (file && std::fwrite(record.data(), 1, record.size(), file) != record.size()) {
        failure = with_errno(fmt::format("cannot write '{}'", path_));
        break;
      }
    }
    if (file && failure.empty() && std::fflush(file) != 0) failure = with_errno(fmt::format("cannot write '{}'", path_));
    lock.lock();
    if (error_.empty()) error_ = failure;
    writing_ = false;
    changed_.notify_all();
  }
  if (file) std::fclose(file);
}

}  // namespace trainrt::obs
