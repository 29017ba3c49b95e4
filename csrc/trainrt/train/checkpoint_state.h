// defines: TrainingSnapshot, snapshot_payload, ResumeFiles, find_resume_files, share_resume_files,
//          torch_rng_state, set_torch_rng_state, copy_live_tensors, kModelFile, kOptimizerFile, kTrainStateFile,
//          kConfigFile
//
// What a trainer checkpoint holds and how it is read back. Files of one checkpoint (committed by
// ckpt/commit.h, with sizes and CRC-32s in its manifest):
//   model.pt        the model's state dict (Python's torch.load opens it: {name: tensor})
//   optimizer.pt    the optimizer's state, {"<parameter>.<slot>": tensor} (optim/state.h)
//   train_state.pb  step, loader position, RNG state, data-parallel shape (train_state.proto)
//   config.pbtxt    the resolved config the run was started with
// Only rank 0 writes (the state is replicated) and only rank 0 reads; the other ranks receive the
// bytes from it, so nodes need not share a file system.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "trainrt/ckpt/commit.h"
#include "trainrt/ckpt/state_dict.h"
#include "trainrt/dist/communicator.h"
#include "trainrt/train/train_state.pb.h"

namespace trainrt::train {

inline constexpr const char* kModelFile = "model.pt";
inline constexpr const char* kOptimizerFile = "optimizer.pt";
inline constexpr const char* kTrainStateFile = "train_state.pb";
inline constexpr const char* kConfigFile = "config.pbtxt";

// A trainer's state at a step boundary. `model` and `optimizer` may first hold the live tensors
// (parameters, optimizer state: what only the next optimizer step changes); copy_live_tensors
// turns them into host copies, off the training thread, while the next forward and backward run.
struct TrainingSnapshot {
  TrainState state;
  ckpt::TensorDict model;
  ckpt::TensorDict optimizer;
  std::string config_text;
};

// Replaces every tensor of `snapshot` with a CPU copy.
void copy_live_tensors(TrainingSnapshot& snapshot);

// The checkpoint's files; the tensors are serialised as they are written (on the writer thread).
// `snapshot` must outlive the payload.
ckpt::CheckpointPayload snapshot_payload(const TrainingSnapshot& snapshot);

// The files a run resumes from.
struct ResumeFiles {
  std::string path;  // the checkpoint directory; "" when every checkpoint found was broken
  TrainState state;
  std::string model;      // model.pt's bytes
  std::string optimizer;  // optimizer.pt's bytes
  std::vector<std::string> skipped;  // newer checkpoints that were broken, and why
};

// Which checkpoint a run starts from, by `resume`:
//   "auto"   the newest whole one under `root` (broken newer ones are skipped and listed); none:
//            a fresh start
//   "never"  a fresh start; refused if `root` already holds checkpoints (they would be replaced)
//   a path   that checkpoint, or the newest whole one in that directory (ckpt::resolve_checkpoint)
// Throws trainrt::Error naming the checkpoint and what is wrong.
std::optional<ResumeFiles> find_resume_files(const std::string& resume, const std::string& root);

// Rank 0's find_resume_files on every rank (`communicator` null: this process's). If rank 0
// fails, it throws its error and the other ranks throw one that points to it. Collective.
std::optional<ResumeFiles> share_resume_files(const std::string& resume, const std::string& root,
                                              dist::Communicator* communicator);

// The state of LibTorch's default generator of `device` (the CPU's, or a CUDA device's), and
// setting it back.
std::string torch_rng_state(torch::Device device = torch::kCPU);
void set_torch_rng_state(const std::string& state, const std::string& source,
                         torch::Device device = torch::kCPU);

}  // namespace trainrt::train
