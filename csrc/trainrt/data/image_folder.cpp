#include "trainrt/data/image_folder.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <torch/torch.h>

#include "trainrt/core/error.h"
#include "trainrt/data/image_decode.h"

namespace trainrt::data {
namespace {

namespace fs = std::filesystem;

// The entries of `path`, sorted by name.
std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(path, error)) {
    names.push_back(entry.path().filename().string());
  }
  if (error) throw DataError(fmt::format("cannot read folder '{}': {}", path, error.message()));
  std::sort(names.begin(), names.end());
  return names;
}


bool is_image_name(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(), ::tolower);
  for (const char* ext : {".jpg", ".jpeg", ".png"}) {
    const std::string e = ext;
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) return true;
  }
  return false;
}

}  // namespace

std::vector<std::string> class_folders(const std::string& root) {
  std::vector<std::string> classes;
  for (const auto& name : list_dir(root)) {
    if (fs::is_directory(root + "/" + name)) classes.push_back(name);
  }
  return classes;
}

ImageFolderDataset::ImageFolderDataset(const std::string& root, int64_t height, int64_t width,
                                       int channels, std::vector<std::string> classes)
    : height_(height), width_(width), channels_(channels), classes_(std::move(classes)) {
  if (!fs::is_directory(root)) throw DataError(fmt::format("image folder '{}' does not exist", root));
  if (classes_.empty()) classes_ = class_folders(root);
  for (size_t c = 0; c < classes_.size(); ++c) {
    const std::string folder = root + "/" + classes_[c];
    if (!fs::is_directory(folder)) continue;  // a class absent from this split
    for (const auto& name : list_dir(folder)) {
      if (is_image_name(name)) files_.emplace_back(folder + "/" + name, static_cast<int64_t>(c));
    }
  }
  if (files_.empty()) {
    throw DataError(fmt::format("image folder '{}' holds no <class>/*.jpg|.jpeg|.png files", root));
  }
}

Example ImageFolderDataset::get(int64_t index) const {
  const auto& [path, label] = files_[static_cast<size_t>(index)];
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(with_errno(fmt::format("cannot open '{}'", path)));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  const Image image = decode_image(bytes.str(), path, channels_);
  at::Tensor sample = torch::empty({channels_, height_, width_}, torch::kUInt8);
  resize_bilinear_to_chw(image, height_, width_, sample.data_ptr<uint8_t>());
  return {sample, label};
}

}  // namespace trainrt::data
