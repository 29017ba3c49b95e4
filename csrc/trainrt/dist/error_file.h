// defines: write_error_file, read_error_message
//
// torchrun's error-file contract: a launcher gives each worker a path in TORCHELASTIC_ERROR_FILE;
// a worker that fails writes {"message": "...", "timestamp": seconds} there, and the launcher
// reports that message as the cause (torchrun's ProcessFailure reads exactly these two fields).
// Here in dist/, beside the rest of what a worker reads from its launcher (worker_env.h), so that
// workers need nothing of launch/; launch/launcher reads what they wrote.
#pragma once

#include <string>

namespace trainrt::dist {

// Best effort: a failing worker must not fail again while reporting.
void write_error_file(const std::string& path, const std::string& message);

// The message a worker wrote to `path`; "" when there is none or it cannot be read.
std::string read_error_message(const std::string& path);

}  // namespace trainrt::dist
