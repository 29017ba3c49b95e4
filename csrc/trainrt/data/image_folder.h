// defines: ImageFolderDataset, class_folders
//
// A folder of images with one sub-folder per class (root/<class>/<file>.jpg|.jpeg|.png), as
// torchvision's ImageFolder reads it: classes are the sub-folder names in sorted order. Images are
// decoded when a sample is asked for (in the loader's threads) and resized to a fixed size.
#pragma once

#include <string>
#include <vector>

#include "trainrt/data/dataset.h"

namespace trainrt::data {

// The class folders of `root` (its subfolders), sorted by name: the classes ImageFolderDataset
// finds when given none. Throws trainrt::Error if `root` cannot be read.
std::vector<std::string> class_folders(const std::string& root);

class ImageFolderDataset : public Dataset {
 public:
  // Scans `root`; throws trainrt::Error if it is missing or holds no class folder with images.
  // `classes`, when given, fixes the class list (so a test split uses the training split's).
  ImageFolderDataset(const std::string& root, int64_t height, int64_t width, int channels,
                     std::vector<std::string> classes = {});
  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  // uint8 [channels, height, width]; a file that fails to decode throws trainrt::Error naming it.
  Example get(int64_t index) const override;
  const std::vector<std::string>& classes() const { return classes_; }
  const std::string& file(int64_t index) const { return files_[static_cast<size_t>(index)].first; }

 private:
  int64_t height_, width_;
  int channels_;
  std::vector<std::string> classes_;
  std::vector<std::pair<std::string, int64_t>> files_;  // path, class index
};

}  // namespace trainrt::data
