#include "trainrt/ckpt/commit.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include <fmt/format.h>

#include "trainrt/ckpt/checksum.h"
#include "trainrt/core/error.h"
#include "trainrt/core/fault_injection.h"
#include "trainrt/core/files.h"

namespace trainrt::ckpt {
namespace {

namespace fs = std::filesystem;

// The piece written at a time, and handed to writeback after it (sync_file_range).
constexpr size_t kWritebackChunk = size_t{8} << 20;

struct Written {
  uint64_t bytes = 0;
  uint32_t crc32 = 0;
};

// Writes what `produce` sends to its sink to `path`, fsyncs it, and returns its size and CRC-32
// (computed on the way, so the file is never read back); throws IoError naming the file.
Written write_durably(const std::string& path, const std::function<void(const ByteSink&)>& produce) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw IoError(with_errno(fmt::format("cannot create checkpoint file '{}'", path)));
  Written written;
  Crc32 crc;
  auto fail = [&](const char* what) {
    const std::string reason = with_errno(fmt::format("cannot {} checkpoint file '{}'", what, path));
    close(fd);
    throw IoError(reason);
  };
  uint64_t flushed = 0;  // bytes handed to writeback already
  produce([&](const char* data, size_t size) {
    crc.update(data, size);
    while (size > 0) {
      const ssize_t n = write(fd, data, std::min<size_t>(size, kWritebackChunk));
      if (n < 0) {
        if (errno == EINTR) continue;
        fail("write");
      }
      data += n;
      size -= static_cast<size_t>(n);
      written.bytes += static_cast<uint64_t>(n);
      // Writeback starts behind the writes, a chunk at a time, rather than all at the fsync: the
      // dirty pages never pile up to where the kernel throttles the writer.
      if (written.bytes - flushed >= kWritebackChunk) {
        sync_file_range(fd, static_cast<off_t>(flushed), static_cast<off_t>(written.bytes - flushed),
                        SYNC_FILE_RANGE_WRITE);
        flushed = written.bytes;
      }
    }
  });
  if (fsync(fd) != 0) fail("flush");
  if (close(fd) != 0) throw IoError(with_errno(fmt::format("cannot close checkpoint file '{}'", path)));
  written.crc32 = crc.value();
  return written;
}

Written write_durably(const std::string& path, const std::string& bytes) {
  return write_durably(path, [&](const ByteSink& sink) { sink(bytes.data(), bytes.size()); });
}

}  // namespace

void fsync_directory(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw IoError(with_errno(fmt::format("cannot open directory '{}'", path)));
  const int result = fsync(fd);
  close(fd);
  if (result != 0) throw IoError(with_errno(fmt::format("cannot flush directory '{}'", path)));
}

std::string checkpoint_name(int64_t step) { return fmt::format("step-{:08d}", step); }

std::string commit_checkpoint(const std::string& root, const CheckpointPayload& payload,
                              const CommitHooks& hooks) {
  auto stage = [&](const std::string& name) {
    if (hooks) hooks(name);
  };
  std::error_code error;
  fs::create_directories(root, error);
  if (error) {
    throw IoError(fmt::format("cannot create checkpoint directory '{}': {}", root, error.message()));
  }
  const std::string name = checkpoint_name(payload.step);
  const std::string staging = root + "/.tmp-" + name;
  const std::string final_dir = root + "/" + name;
  remove_tree(staging, error);
  if (!fs::create_directory(staging, error) || error) {
    throw IoError(fmt::format("cannot create checkpoint directory '{}': {}", staging,
                              error ? error.message() : "it exists"));
  }
  try {
    CheckpointManifest manifest;
    manifest.set_step(payload.step);
    manifest.set_epoch(payload.epoch);
    manifest.set_world_size(payload.world_size);
    manifest.set_created_unix(std::chrono::duration_cast<std::chrono::seconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count());
    for (const auto& file : payload.files) {
      stage("file:" + file.name);
      const std::string path = staging + "/" + file.name;
      const Written written = file.stream ? write_durably(path, file.stream) : write_durably(path, file.bytes);
      auto* entry = manifest.add_files();
      entry->set_name(file.name);
      entry->set_bytes(written.bytes);
      entry->set_crc32(written.crc32);
    }
    stage("manifest");
    fault_injection::point("checkpoint", payload.step);
    write_durably(staging + "/" + kManifestFile, manifest.SerializeAsString());
    fsync_directory(staging);

    stage("rename");
    remove_tree(final_dir, error);  // an older checkpoint of the same step (a rerun)
    fs::rename(staging, final_dir, error);
    if (error) {
      throw IoError(fmt::format("cannot rename '{}' to '{}': {}", staging, final_dir, error.message()));
    }
    fsync_directory(root);
  } catch (...) {
    remove_tree(staging, error);
    throw;
  }

  stage("latest");
  const std::string latest_tmp = root + "/" + kLatestFile + ".tmp";
  write_durably(latest_tmp, name + "\n");
  fs::rename(latest_tmp, root + "/" + kLatestFile, error);
  if (error) throw IoError(fmt::format("cannot update '{}/{}': {}", root, kLatestFile, error.message()));
  fsync_directory(root);
  return final_dir;
}

int64_t checkpoint_step(const std::string& dir) {
  const std::string name = std::filesystem::path(dir).filename().string();
  constexpr std::string_view prefix = "step-";
  if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size() ||
      name.find_first_not_of("0123456789", prefix.size()) != std::string::npos) {
    return -1;
  }
  return std::stoll(name.substr(prefix.size()));
}

void replace_file_durably(const std::string& path, const std::string& bytes) {
  const std::string staging = path + ".tmp";
  try {
    write_durably(staging, bytes);
  } catch (...) {
    std::error_code ignored;
    fs::remove(staging, ignored);
    throw;
  }
  std::error_code error;
  fs::rename(staging, path, error);
  if (error) throw IoError(fmt::format("cannot rename '{}' to '{}': {}", staging, path, error.message()));
  const fs::path parent = fs::path(path).parent_path();
  fsync_directory(parent.empty() ? "." : parent.string());
}

}  // namespace trainrt::ckpt
