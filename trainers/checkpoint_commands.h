// defines: export_command, inspect_command, open_checkpoint
//
// The checkpoint commands of the `trainrt` program:
//   trainrt export --checkpoint PATH --out DIR    an inference bundle (infer/bundle.h): config,
//                                                 weights (torch.load), TorchScript module
//   trainrt ckpt inspect PATH                      what a checkpoint holds, and whether it is whole
// PATH is a checkpoint directory, a directory of checkpoints or a run directory (meaning its
// newest whole checkpoint; ckpt::resolve_checkpoint).
#pragma once

#include <string>

#include "trainrt/ckpt/trainer_checkpoint.h"

namespace trainrt::trainers {

// Returns the exit code; throws trainrt::Error on failure.
int export_command(const std::string& checkpoint, const std::string& out);
int inspect_command(const std::string& path);

// The trainer checkpoint a command's PATH names (ckpt::open_trainer_checkpoint), each broken newer
// one it skipped reported on stderr.
ckpt::TrainerCheckpoint open_checkpoint(const std::string& path, bool keep_contents);

}  // namespace trainrt::trainers
