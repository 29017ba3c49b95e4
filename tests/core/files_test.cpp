#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "test_util.h"
#include "trainrt/core/files.h"

namespace trainrt {
namespace {

using trainrt::testing::TempDir;
using trainrt::testing::write_file;

TEST(RemoveTree, RemovesNestedFoldersButNotWhatALinkPointsTo) {
  TempDir root, outside;
  write_file(outside / "kept.txt", "kept");
  const std::string tree = root / "tree";
  std::filesystem::create_directories(tree + "/a/b/c");
  write_file(tree + "/a/one.bin", "1");
  write_file(tree + "/a/b/c/two.bin", "2");
  ASSERT_EQ(symlink(outside.path().c_str(), (tree + "/a/link").c_str()), 0);

  std::error_code error;
  EXPECT_TRUE(remove_tree(tree, error)) << error.message();
  EXPECT_FALSE(error);
  EXPECT_FALSE(std::filesystem::exists(tree));
  EXPECT_TRUE(std::filesystem::exists(outside / "kept.txt"));
  EXPECT_TRUE(std::filesystem::exists(root.path()));
}

TEST(RemoveTree, AFileOrAMissingPathIsFine) {
  TempDir root;
  write_file(root / "file", "x");
  std::error_code error;
  EXPECT_TRUE(remove_tree(root / "file", error));
  EXPECT_FALSE(std::filesystem::exists(root / "file"));
  EXPECT_TRUE(remove_tree(root / "never-there", error));
  EXPECT_FALSE(error);
}

TEST(RemoveTree, AnEntryThatCannotBeRemovedIsAnError) {
  // A path through a file is no directory: removing under it fails with ENOTDIR.
  TempDir root;
  write_file(root / "file", "x");
  std::error_code error;
  EXPECT_FALSE(remove_tree(root / "file/inside", error));
  EXPECT_EQ(error.value(), ENOTDIR);
}

}  // namespace
}  // namespace trainrt
