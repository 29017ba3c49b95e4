#include "trainrt/ckpt/catalog.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include <fmt/format.h>

#include "trainrt/ckpt/checksum.h"
#include "trainrt/ckpt/commit.h"
#include "trainrt/core/error.h"
#include "trainrt/core/files.h"

namespace trainrt::ckpt {
namespace {

namespace fs = std::filesystem;

constexpr uint32_t kKnownVersion = 1;

}  // namespace

bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find_first_of(std::string("/\0", 2)) == std::string::npos;
}

std::string verify_checkpoint(const std::string& dir, CheckpointManifest* manifest_out,
                              std::map<std::string, std::string>* contents) {
  std::map<std::string, std::string> read;
  const auto manifest_bytes = read_whole_file(dir + "/" + kManifestFile);
  if (!manifest_bytes) return fmt::format("{}: missing or unreadable", kManifestFile);
  CheckpointManifest manifest;
  if (!manifest.ParseFromString(*manifest_bytes)) return fmt::format("{}: not a valid manifest", kManifestFile);
  if (manifest.version() != kKnownVersion) {
    return fmt::format("{}: format version {} (this trainrt reads {})", kManifestFile,
                       manifest.version(), kKnownVersion);
  }
  // Every checkpoint holds files: a manifest that lists none vouches for nothing.
  if (manifest.files_size() == 0) return fmt::format("{}: lists no files", kManifestFile);
  for (const auto& file : manifest.files()) {
    if (!is_plain_file_name(file.name())) {
      return fmt::format("{}: the file name '{}' is not a plain file name", kManifestFile, file.name());
    }
  }
  // The files read and checked a few at a time, each on a thread of its own (the model's and the
  // optimizer's are large); the first problem in the manifest's order is the one reported.
  auto check = [&dir](const CheckpointFile& file, std::optional<std::string>& bytes) -> std::string {
    bytes = read_whole_file(dir + "/" + file.name());
    if (!bytes) return fmt::format("{}: missing or unreadable", file.name());
    if (bytes->size() != file.bytes()) {
      return fmt::format("{}: {} bytes, the manifest says {} (truncated?)", file.name(), bytes->size(), file.bytes());
    }
    if (const uint32_t crc = crc32_of(*bytes); crc != file.crc32()) {
      return fmt::format("{}: CRC-32 {:08x}, the manifest says {:08x} (corrupted)", file.name(), crc, file.crc32());
    }
    return "";
  };
  constexpr int kAtOnce = 4;
  std::string problem;
  for (int first = 0; first < manifest.files_size() && problem.empty(); first += kAtOnce) {
    const int end = std::min(manifest.files_size(), first + kAtOnce);
    std::vector<std::optional<std::string>> bytes(end - first);
    std::vector<std::future<std::string>> checks;
    for (int i = first; i < end; ++i) {
      checks.push_back(std::async(std::launch::async, check, std::cref(manifest.files(i)), std::ref(bytes[i - first])));
    }
    for (int i = first; i < end; ++i) {
      const std::string found = checks[i - first].get();
      if (problem.empty()) problem = found;
      if (contents && found.empty()) read[manifest.files(i).name()] = std::move(*bytes[i - first]);
    }
  }
  if (!problem.empty()) return problem;
  if (manifest_out) *manifest_out = std::move(manifest);
  if (contents) *contents = std::move(read);
  return "";
}

std::vector<std::string> list_checkpoints(const std::string& root) {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(root, error)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && name.rfind("step-", 0) == 0) names.push_back(name);
  }
  std::sort(names.rbegin(), names.rend());  // zero-padded steps: newest first
  std::vector<std::string> paths;
  for (const auto& name : names) paths.push_back(root + "/" + name);
  return paths;
}

std::optional<CheckpointInfo> newest_good_checkpoint(const std::string& root,
                                                     std::vector<std::string>* skipped,
                                                     bool keep_contents) {
  for (const auto& path : list_checkpoints(root)) {
    CheckpointInfo info;
    const std::string problem =
        verify_checkpoint(path, &info.manifest, keep_contents ? &info.contents : nullptr);
    if (problem.empty()) {
      info.path = path;
      return info;
    }
    if (skipped) skipped->push_back(fmt::format("{}: {}", path, problem));
  }
  return std::nullopt;
}

CheckpointInfo resolve_checkpoint(const std::string& path, std::vector<std::string>* skipped,
                                  bool keep_contents) {
  std::error_code error;
  if (!fs::is_directory(path, error)) {
    throw IoError(fmt::format("checkpoint '{}': {}", path,
                              fs::exists(path, error) ? "not a directory" : "no such directory"));
  }
  if (fs::exists(fs::path(path) / kManifestFile, error)) {
    CheckpointInfo info;
    const std::string problem =
        verify_checkpoint(path, &info.manifest, keep_contents ? &info.contents : nullptr);
    if (!problem.empty()) throw DataError(fmt::format("checkpoint '{}' is broken: {}", path, problem));
    info.path = path;
    return info;
  }
  std::string root = path;
  if (list_checkpoints(root).empty() && fs::is_directory(fs::path(path) / kCheckpointsFolder, error)) {
    root = (fs::path(path) / kCheckpointsFolder).string();
  }
  std::vector<std::string> broken;
  auto found = newest_good_checkpoint(root, &broken, keep_contents);
  if (skipped) skipped->insert(skipped->end(), broken.begin(), broken.end());
  if (!found) {
    throw DataError(broken.empty()
                        ? fmt::format("'{}' holds no checkpoint (step-N directories)", path)
                        : fmt::format("'{}' holds no whole checkpoint; {} broken, the newest: {}", path,
                                      broken.size(), broken.front()));
  }
  return *found;
}

std::string read_checkpoint_file(const CheckpointInfo& checkpoint, const std::string& name) {
  if (auto kept = checkpoint.contents.find(name); kept != checkpoint.contents.end()) return kept->second;
  const auto bytes = read_whole_file(checkpoint.path + "/" + name);
  if (!bytes) throw IoError(with_errno(fmt::format("cannot read '{}/{}'", checkpoint.path, name)));
  return *bytes;
}

std::vector<std::string> set_aside_checkpoints_after(const std::string& root, int64_t step) {
  std::vector<std::string> set_aside;
  auto paths = list_checkpoints(root);
  std::reverse(paths.begin(), paths.end());  // oldest first
  for (const auto& path : paths) {
    if (checkpoint_step(path) <= step) continue;
    const fs::path from(path);
    const std::string base = (from.parent_path() / (kAbandonedPrefix + from.filename().string())).string();
    // A step set aside before (an earlier rollback past it) keeps its copy: this one gets a number.
    std::string to = base;
    std::error_code error;
    for (int copy = 2; fs::exists(to, error); ++copy) to = base + "." + std::to_string(copy);
    fs::rename(from, to, error);
    if (error) throw IoError(fmt::format("cannot set aside checkpoint '{}' as '{}': {}", path, to, error.message()));
    set_aside.push_back(to);
  }
  if (!set_aside.empty()) fsync_directory(root);
  return set_aside;
}

void prune_checkpoints(const std::string& root, int keep) {
  std::string latest;
  if (auto text = read_whole_file(root + "/" + kLatestFile)) latest = text->substr(0, text->find('\n'));
  std::error_code error;
  std::vector<std::string> abandoned;
  for (const auto& entry : fs::directory_iterator(root, error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(".tmp-", 0) == 0) remove_tree(entry.path().string(), error);
    if (name.rfind(kAbandonedPrefix, 0) == 0 && entry.is_directory()) abandoned.push_back(entry.path().string());
  }
  // The live branch's newest first, then what was set aside, newest first: the first `keep` stay.
  auto paths = list_checkpoints(root);
  std::sort(abandoned.rbegin(), abandoned.rend());
  paths.insert(paths.end(), abandoned.begin(), abandoned.end());
  for (size_t i = static_cast<size_t>(std::max(keep, 0)); i < paths.size(); ++i) {
    if (fs::path(paths[i]).filename() == latest) continue;
    remove_tree(paths[i], error);
  }
}

}  // namespace trainrt::ckpt
