#include "trainrt/core/error.h"

#include <cerrno>
#include <cstring>

namespace trainrt {

Error ConfigError(const std::string& message) { return Error(Error::Kind::kConfig, message); }
Error DataError(const std::string& message) { return Error(Error::Kind::kData, message); }
Error IoError(const std::string& message) { return Error(Error::Kind::kIo, message); }

std::string with_errno(const std::string& message) {
  return message + ": " + std::strerror(errno);
}

}  // namespace trainrt
