// defines: FieldChange, config_changes, changes_training
//
// What differs between two resolved configs, field by field: a resumed run compares the config its
// checkpoint was written with against its own (train/checkpoint_state.h), and refuses a change of
// what training computes unless the user asked for it.
#pragma once

#include <string>
#include <vector>

#include "trainrt/config/trainrt.pb.h"

namespace trainrt::config {

struct FieldChange {
  std::string field;   // "optimizer.lr"; a repeated field whole: "model.mlp.hidden"
  std::string before;  // its value in the first config, as in a config file ("0.05", "[32, 32]", "'sgd'")
  std::string after;
};

// Every field whose value differs between `before` and `after`, in the order of trainrt.proto.
std::vector<FieldChange> config_changes(const TrainConfig& before, const TrainConfig& after);

// Whether a change of `field` changes what training computes (the model, the data, the optimizer
// and its schedule, the seed, the batch), as opposed to how long it trains, how it runs, is
// watched or is checkpointed (README, "Resuming": the fields that may change).
bool changes_training(const std::string& field);

}  // namespace trainrt::config
