// defines: is_plain_file_name, CheckpointInfo, verify_checkpoint, list_checkpoints, newest_good_checkpoint,
//          resolve_checkpoint, read_checkpoint_file, set_aside_checkpoints_after, prune_checkpoints,
//          kCheckpointsFolder, kAbandonedPrefix
//
// Reading what ckpt/commit.h wrote: which checkpoint directories exist under a root, whether one
// is whole (its manifest parses and every file has the recorded size and CRC-32), the newest whole
// one (a broken newer one is reported and skipped, never used), and pruning old ones.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "trainrt/ckpt/manifest.pb.h"

namespace trainrt::ckpt {

struct CheckpointInfo {
  std::string path;  // the checkpoint's directory
  CheckpointManifest manifest;
  // The files' contents as verified, when the caller asked to keep them (so that a resume reads
  // each file once); read_checkpoint_file serves them from here.
  std::map<std::string, std::string> contents;
};

// Whether `name` names a file inside a directory: not empty, not "." or "..", no '/' or NUL. What a
// checkpoint's manifest and a bundle's bundle.json may list (never a path that leads out).
bool is_plain_file_name(const std::string& name);

// "" if the checkpoint in `dir` is whole, else what is wrong, naming the file. On success fills
// `manifest` and `contents` (every file's bytes) when given.
std::string verify_checkpoint(const std::string& dir, CheckpointManifest* manifest = nullptr,
                              std::map<std::string, std::string>* contents = nullptr);

// Committed checkpoint directories under `root` (step-N), newest step first; staging directories
// (.tmp-*) are never listed.
std::vector<std::string> list_checkpoints(const std::string& root);

// The newest whole checkpoint under `root`, if any; each newer one that is not whole is described
// in `skipped` ("ROOT/step-00000042: model.pt: ...").
std::optional<CheckpointInfo> newest_good_checkpoint(const std::string& root,
                                                     std::vector<std::string>* skipped = nullptr,
                                                     bool keep_contents = false);

// A run directory's checkpoints go in RUN_DIR/checkpoints unless the config says otherwise.
inline constexpr const char* kCheckpointsFolder = "checkpoints";

// The checkpoint `path` names, for commands given a path by a user: a checkpoint directory (which
// must be whole), a directory of checkpoints, or a run directory holding kCheckpointsFolder (their
// newest whole one; newer broken ones are described in `skipped`). Throws trainrt::Error (kData or
// kIo) naming `path` and what is wrong.
CheckpointInfo resolve_checkpoint(const std::string& path, std::vector<std::string>* skipped = nullptr,
                                  bool keep_contents = false);

// A file of a verified checkpoint. Throws trainrt::Error (kIo) if it cannot be read.
std::string read_checkpoint_file(const CheckpointInfo& checkpoint, const std::string& name);

// A checkpoint of an abandoned branch (a run resumed from an earlier step in the same root) is
// renamed ROOT/abandoned-step-N: kept for the user, never resumed, pruned first.
inline constexpr const char* kAbandonedPrefix = "abandoned-";

// Sets aside every checkpoint under `root` of a step after `step` (renamed with kAbandonedPrefix,
// durably); returns their new paths, oldest first. Throws trainrt::Error (kIo) if one cannot be
// renamed.
std::vector<std::string> set_aside_checkpoints_after(const std::string& root, int64_t step);

// Keeps `keep` checkpoints: the newest committed ones first, then the newest set aside (and always
// the one `latest` names); removes the rest and any staging directory left by a crash.
void prune_checkpoints(const std::string& root, int keep);

}  // namespace trainrt::ckpt
