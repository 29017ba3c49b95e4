// defines: trainrt::Error, the one exception type the library throws for bad input or failed I/O.
//
// Its message is meant for the person running the job: it names what is wrong and where (file,
// line, field, rank, step) and, where it helps, what to do next. The command-line program prints
// it and exits non-zero; embedding applications catch it.
#pragma once

#include <stdexcept>
#include <string>

namespace trainrt {

class Error : public std::runtime_error {
 public:
  enum class Kind { kConfig, kData, kIo, kDistributed, kInternal };

  Error(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}

  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

// Shorthands: throw ConfigError("...") reads better at call sites than the enum.
Error ConfigError(const std::string& message);
Error DataError(const std::string& message);
Error IoError(const std::string& message);

// "message: strerror(errno)" for failed system calls.
std::string with_errno(const std::string& message);

}  // namespace trainrt
