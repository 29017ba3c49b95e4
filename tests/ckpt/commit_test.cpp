// The checkpoint commit protocol on real files: the newest whole checkpoint is found; a crash at
// any stage (a child process that dies there), a truncated or bit-flipped file, a full disk or an
// unusable directory leave the previous checkpoint intact and findable, and are reported clearly.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_util.h"
#include <zlib.h>

#include "trainrt/ckpt/catalog.h"
#include "trainrt/ckpt/checksum.h"
#include "trainrt/ckpt/commit.h"
#include "trainrt/ckpt/manifest.pb.h"

namespace trainrt::ckpt {
namespace {

using ::testing::HasSubstr;
using trainrt::testing::TempDir;
using trainrt::testing::error_of;
using trainrt::testing::read_file;
using trainrt::testing::write_file;

CheckpointPayload payload(int64_t step, size_t model_bytes = 4096) {
  CheckpointPayload p;
  p.step = step;
  p.epoch = step / 10;
  p.world_size = 2;
  std::string model(model_bytes, '\0');
  for (size_t i = 0; i < model.size(); ++i) model[i] = static_cast<char>((i * 31 + step) & 0xff);
  p.files = {{"model.pt", model}, {"optimizer.pt", "optimizer state " + std::to_string(step)}};
  return p;
}

// Runs `body` in a child process and returns its exit code: a crash there is a real crash.
int in_child(const std::function<void()>& body) {
  const pid_t pid = fork();
  if (pid == 0) {
    body();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The manifest's CRC-32 is zip's and zlib's (ISA-L computes it where built with it), whole or in
// pieces: the check value of "123456789", and zlib's own over a megabyte split unevenly.
TEST(CheckpointChecksum, IsZlibsCrc32WholeOrInPieces) {
  EXPECT_EQ(crc32_of("123456789"), 0xCBF43926u);
  EXPECT_EQ(crc32_of(""), 0u);
  std::string bytes(1 << 20, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 2654435761u >> 13);
  Crc32 pieces;
  pieces.update(bytes.data(), 3);
  pieces.update(bytes.data() + 3, 70001);
  pieces.update(bytes.data() + 70004, bytes.size() - 70004);
  const uLong zlib = crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size()));
  EXPECT_EQ(pieces.value(), static_cast<uint32_t>(zlib));
  EXPECT_EQ(crc32_of(bytes), static_cast<uint32_t>(zlib));
}

TEST(CheckpointCommit, WritesAWholeCheckpointAndFindsTheNewest) {
  TempDir root;
  commit_checkpoint(root.path(), payload(10));
  const std::string path = commit_checkpoint(root.path(), payload(20));
  EXPECT_EQ(path, root / "step-00000020");
  EXPECT_EQ(read_file(root / "latest"), "step-00000020\n");
  const auto newest = newest_good_checkpoint(root.path());
  ASSERT_TRUE(newest);
  EXPECT_EQ(newest->path, root / "step-00000020");
  EXPECT_EQ(newest->manifest.step(), 20);
  EXPECT_EQ(newest->manifest.epoch(), 2);
  EXPECT_EQ(newest->manifest.world_size(), 2);
  ASSERT_EQ(newest->manifest.files_size(), 2);
  EXPECT_EQ(newest->manifest.files(0).bytes(), 4096u);
  EXPECT_EQ(read_checkpoint_file(*newest, "model.pt"), payload(20).files[0].bytes);
  EXPECT_EQ(read_checkpoint_file(*newest, "optimizer.pt"), "optimizer state 20");
}

TEST(CheckpointCommit, CrashAtAnyStageLeavesThePreviousCheckpointFindable) {
  for (const std::string crash_at : {"file:model.pt", "file:optimizer.pt", "manifest", "rename", "latest"}) {
    SCOPED_TRACE(crash_at);
    TempDir root;
    commit_checkpoint(root.path(), payload(10));
    const int code = in_child([&] {
      commit_checkpoint(root.path(), payload(20), [&](const std::string& stage) {
        if (stage == crash_at) _exit(42);  // dies here: nothing cleans up
      });
    });
    ASSERT_EQ(code, 42);
    std::vector<std::string> skipped;
    const auto newest = newest_good_checkpoint(root.path(), &skipped);
    ASSERT_TRUE(newest);
    // The rename is the commit point: a crash after it keeps the new checkpoint (whole), before
    // it the old one; a partial one is never taken.
    EXPECT_EQ(newest->manifest.step(), crash_at == "latest" ? 20 : 10);
    EXPECT_TRUE(skipped.empty());
    EXPECT_EQ(read_checkpoint_file(*newest, "model.pt"),
              payload(newest->manifest.step()).files[0].bytes);
    // The next commit and a prune clean up what the crash left.
    commit_checkpoint(root.path(), payload(30));
    prune_checkpoints(root.path(), 5);
    for (const auto& entry : std::filesystem::directory_iterator(root.path())) {
      EXPECT_EQ(entry.path().filename().string().rfind(".tmp-", 0), std::string::npos) << entry.path();
    }
  }
}

TEST(CheckpointCommit, TruncatedOrBitFlippedFilesAreReportedAndTheOneBeforeIsUsed) {
  TempDir root;
  commit_checkpoint(root.path(), payload(10));
  commit_checkpoint(root.path(), payload(20));
  commit_checkpoint(root.path(), payload(30));
  // step 30: one bit flipped; step 20: truncated.
  std::string model = read_file(root / "step-00000030/model.pt");
  model[1000] ^= 0x10;
  write_file(root / "step-00000030/model.pt", model);
  std::filesystem::resize_file(root / "step-00000020/optimizer.pt", 5);
  std::vector<std::string> skipped;
  const auto newest = newest_good_checkpoint(root.path(), &skipped);
  ASSERT_TRUE(newest);
  EXPECT_EQ(newest->manifest.step(), 10);
  ASSERT_EQ(skipped.size(), 2u);
  EXPECT_THAT(skipped[0], HasSubstr("step-00000030: model.pt: CRC-32"));
  EXPECT_THAT(skipped[0], HasSubstr("(corrupted)"));
  EXPECT_THAT(skipped[1], HasSubstr("step-00000020: optimizer.pt: 5 bytes, the manifest says 18 (truncated?)"));
  // A missing manifest (a directory made by something else) is not a checkpoint either.
  std::filesystem::remove(root / "step-00000010/manifest.pb");
  EXPECT_FALSE(newest_good_checkpoint(root.path()));
  EXPECT_EQ(verify_checkpoint(root / "step-00000010"), "manifest.pb: missing or unreadable");
}

TEST(CheckpointCommit, AManifestNamingAFileOutsideItsDirectoryIsRefused) {
  TempDir root;
  write_file(root / "secret", "not a checkpoint's");
  for (const std::string name : {"../secret", "", "..", "sub/model.pt"}) {
    CheckpointPayload p = payload(10);
    const std::string dir = commit_checkpoint(root / "run", p);
    CheckpointManifest manifest;
    ASSERT_TRUE(manifest.ParseFromString(read_file(dir + "/manifest.pb")));
    manifest.mutable_files(0)->set_name(name);
    write_file(dir + "/manifest.pb", manifest.SerializeAsString());
    EXPECT_EQ(verify_checkpoint(dir),
              "manifest.pb: the file name '" + name + "' is not a plain file name");
  }
}

// Found by reading the code: a manifest that lists no files verified as whole.
TEST(CheckpointCommit, AManifestListingNoFilesIsNotAWholeCheckpoint) {
  TempDir root;
  const std::string dir = commit_checkpoint(root / "run", payload(10));
  CheckpointManifest manifest;
  ASSERT_TRUE(manifest.ParseFromString(read_file(dir + "/manifest.pb")));
  manifest.clear_files();
  write_file(dir + "/manifest.pb", manifest.SerializeAsString());
  EXPECT_EQ(verify_checkpoint(dir), "manifest.pb: lists no files");
  EXPECT_FALSE(newest_good_checkpoint(root / "run"));
}

TEST(CheckpointCommit, FullDiskIsAClearErrorAndThePreviousCheckpointStays) {
  TempDir root;
  commit_checkpoint(root.path(), payload(10));
  const std::string message_file = root / "message.txt";
  const int code = in_child([&] {
    // A file-size limit stands in for a full disk: writes past it fail with EFBIG.
    signal(SIGXFSZ, SIG_IGN);
    rlimit limit{1 << 20, 1 << 20};
    setrlimit(RLIMIT_FSIZE, &limit);
    const std::string error = error_of([&] { commit_checkpoint(root.path(), payload(20, 4 << 20)); });
    write_file(message_file, error);
    _exit(error.empty() ? 1 : 0);
  });
  ASSERT_EQ(code, 0);
  EXPECT_THAT(read_file(message_file), HasSubstr("cannot write checkpoint file '" + root.path() +
                                                 "/.tmp-step-00000020/model.pt': File too large"));
  const auto newest = newest_good_checkpoint(root.path());
  ASSERT_TRUE(newest);
  EXPECT_EQ(newest->manifest.step(), 10);
  EXPECT_FALSE(std::filesystem::exists(root / ".tmp-step-00000020"));  // cleaned up
}

TEST(CheckpointCommit, UnusableDirectoryIsNamed) {
  TempDir dir;
  write_file(dir / "not-a-directory", "x");
  EXPECT_THAT(error_of([&] { commit_checkpoint(dir / "not-a-directory/ckpt", payload(1)); }),
              HasSubstr("cannot create checkpoint directory '" + (dir / "not-a-directory/ckpt") + "'"));
}

TEST(CheckpointCommit, PruneKeepsTheNewestAndWhatLatestNames) {
  TempDir root;
  for (int step : {10, 20, 30, 40}) commit_checkpoint(root.path(), payload(step));
  write_file(root / "latest", "step-00000010\n");  // e.g. pinned by hand
  prune_checkpoints(root.path(), 2);
  std::vector<std::string> names;
  for (const auto& path : list_checkpoints(root.path())) names.push_back(std::filesystem::path(path).filename());
  EXPECT_EQ(names, (std::vector<std::string>{"step-00000040", "step-00000030", "step-00000010"}));
}

}  // namespace
}  // namespace trainrt::ckpt
