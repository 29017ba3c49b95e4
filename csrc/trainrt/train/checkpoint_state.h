// defines: TrainingSnapshot, snapshot_payload, ResumeFiles, ResumeRequest, find_resume_files, share_resume_files,
//          torch_rng_state, set_torch_rng_state, copy_live_tensors
//
// A trainer checkpoint from the trainer's side: the state it captures at a step boundary and writes
// (the files and their one reader are ckpt/trainer_checkpoint.h), and the checkpoint a run resumes
// from. Only rank 0 writes (the state is replicated) and only rank 0 reads; the other ranks receive
// the bytes from it, so nodes need not share a file system.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "trainrt/ckpt/commit.h"
#include "trainrt/ckpt/state_dict.h"
#include "trainrt/ckpt/trainer_checkpoint.h"
#include "trainrt/config/changes.h"
#include "trainrt/dist/communicator.h"

namespace trainrt::train {

// A trainer's state at a step boundary. `model` and `optimizer` may first hold the live tensors
// (parameters, optimizer state: what only the next optimizer step changes); copy_live_tensors
// turns them into host copies, off the training thread, while the next forward and backward run.
struct TrainingSnapshot {
  ckpt::TrainState state;
  ckpt::TensorDict model;
  ckpt::TensorDict optimizer;
  std::string config_text;
};

// Replaces every tensor of `snapshot` with a CPU copy; with `off_host_only`, only those on a GPU
// (for a save that training waits for: the host's live tensors cannot change meanwhile).
void copy_live_tensors(TrainingSnapshot& snapshot, bool off_host_only = false);

// The checkpoint's files; the tensors are serialised as they are written (on the writer thread).
// `snapshot` must outlive the payload.
ckpt::CheckpointPayload snapshot_payload(const TrainingSnapshot& snapshot);

// The files a run resumes from (of a checkpoint read by ckpt::read_trainer_checkpoint).
struct ResumeFiles {
  std::string path;  // the checkpoint directory; "" when every checkpoint found was broken
  ckpt::TrainState state;
  std::string model;      // model.pt's bytes
  std::string optimizer;  // optimizer.pt's bytes
  std::vector<std::string> skipped;  // newer checkpoints that were broken, and why
  // Rank 0's alone (not shared): how this run's config differs from the checkpoint's (every
  // change, accepted).
  std::vector<config::FieldChange> config_changes;
};

// What a run asks to resume from, and on what terms.
struct ResumeRequest {
  // "auto"   the newest whole checkpoint under `root` (broken newer ones are skipped and listed);
  //          none: a fresh start
  // "never"  a fresh start; refused if `root` already holds checkpoints (they would be replaced)
  // a path   that checkpoint, or the newest whole one in that directory (ckpt::resolve_checkpoint)
  std::string resume = "never";
  std::string root;  // this run's checkpoint root
  // This run's config (null: not compared). A checkpoint written with a config that differs in a
  // field that changes what training computes (config::changes_training) is refused, naming every
  // such field, unless the change is accepted: by `accept_config_changes`, or by naming the
  // checkpoint in `resume`.
  const config::TrainConfig* config = nullptr;
  bool accept_config_changes = false;
  // This run's processes: a per-rank batch (or accumulation) that changed with them so that the
  // global batch stayed the checkpoint's changes nothing that training computes.
  int world_size = 1;
};

// The checkpoint a run starts from, by `request` (once it is loaded, the checkpoints under the
// root newer than it are of a branch the run abandons: Trainer::resume sets them aside,
// ckpt::set_aside_checkpoints_after). Throws trainrt::Error naming the checkpoint and what is wrong (ckpt::read_trainer_checkpoint's
// errors: a missing file, a train state that does not parse, an invalid config; a config change
// refused, kConfig).
std::optional<ResumeFiles> find_resume_files(const ResumeRequest& request);

// Rank 0's find_resume_files on every rank (`communicator` null: this process's). If rank 0
// fails, it throws its error and the other ranks throw one that points to it. Collective.
std::optional<ResumeFiles> share_resume_files(const ResumeRequest& request, dist::Communicator* communicator);

// The state of LibTorch's default generator of `device` (the CPU's, or a CUDA device's), and
// setting it back.
std::string torch_rng_state(torch::Device device = torch::kCPU);
void set_torch_rng_state(const std::string& state, const std::string& source,
                         torch::Device device = torch::kCPU);

}  // namespace trainrt::train
