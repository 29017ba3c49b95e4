// defines: CheckpointPayload, PayloadFile, ByteSink, CommitHooks, commit_checkpoint, checkpoint_name, kLatestFile,
//          replace_file_durably, fsync_directory
//
// Writing one checkpoint so that a crash at any moment leaves the previous one intact and
// findable, and a partial one is never taken for good (the protocol of leveldb's SetCurrentFile
// and torch.distributed.checkpoint's commit marker):
//   1. write every file into ROOT/.tmp-step-N/, fsync each;
//   2. write the manifest (each file's size and CRC-32) there, fsync it, fsync the directory;
//   3. rename the directory to ROOT/step-N (atomic), fsync ROOT;
//   4. write ROOT/latest.tmp ("step-N"), fsync, rename over ROOT/latest, fsync ROOT.
// A reader trusts a directory only if its manifest parses and every file matches it
// (ckpt/catalog.h), and falls back to the newest one that does.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "trainrt/ckpt/manifest.pb.h"

namespace trainrt::ckpt {

inline constexpr const char* kLatestFile = "latest";
inline constexpr const char* kManifestFile = "manifest.pb";

// Where a file's contents go, piece by piece.
using ByteSink = std::function<void(const char* data, size_t size)>;

// One file of a checkpoint: `bytes`, or, when `stream` is set, whatever it writes to the sink it is
// given (large tensor files go straight to disk, never whole in memory).
struct PayloadFile {
  std::string name;
  std::string bytes;
  std::function<void(const ByteSink&)> stream;
};

struct CheckpointPayload {
  int64_t step = 0;
  int64_t epoch = 0;
  int world_size = 1;
  std::vector<PayloadFile> files;
};

// Called at each stage ("file:<name>", "manifest", "rename", "latest"), before it runs. Tests
// throw from it to simulate a crash at that point; production code passes none.
using CommitHooks = std::function<void(const std::string& stage)>;

// "step-00000042": names sort in step order.
std::string checkpoint_name(int64_t step);
// The step of a checkpoint directory so named ("ROOT/step-00000042" -> 42); -1 if it is not.
int64_t checkpoint_step(const std::string& dir);

// Writes `payload` under `root` (created if missing) by the protocol above; returns the
// checkpoint's directory. Throws trainrt::Error (kIo) naming the file and the system's reason
// (disk full, permission denied, ...); whatever it wrote is removed and `root` is as before.
std::string commit_checkpoint(const std::string& root, const CheckpointPayload& payload,
                              const CommitHooks& hooks = {});

// Writes `bytes` to `path` whole or not at all: into PATH.tmp, fsynced, renamed over `path`, the
// directory fsynced (what `trainrt export` uses for its output). Throws trainrt::Error (kIo).
void replace_file_durably(const std::string& path, const std::string& bytes);

// Makes a rename or a new entry in directory `path` durable (a rename is durable only once its
// directory is). Throws trainrt::Error (kIo).
void fsync_directory(const std::string& path);

}  // namespace trainrt::ckpt
