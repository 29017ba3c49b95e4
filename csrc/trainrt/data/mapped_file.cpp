#include "trainrt/data/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "trainrt/core/error.h"

namespace trainrt::data {

MappedFile::MappedFile(const std::string& path) : path_(path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw DataError(with_errno(fmt::format("cannot open '{}'", path)));
  struct stat info {};
  if (fstat(fd, &info) != 0) {
    close(fd);
    throw DataError(with_errno(fmt::format("cannot stat '{}'", path)));
  }
  size_ = static_cast<size_t>(info.st_size);
  if (size_ > 0) {
    void* mapped = mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
    if (mapped == MAP_FAILED) {
      close(fd);
      throw DataError(with_errno(fmt::format("cannot map '{}'", path)));
    }
    data_ = static_cast<const uint8_t*>(mapped);
  }
  close(fd);  // the mapping keeps the file's pages
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) munmap(const_cast<uint8_t*>(data_), size_);
}

}  // namespace trainrt::data
