#include "trainrt/config/choices.h"

#include <fmt/format.h>

#include "trainrt/core/error.h"

namespace trainrt::config {

const std::vector<ChoiceField>& closed_choices() {
  // The first value of each field is not necessarily its default: trainrt.proto holds the defaults.
  static const std::vector<ChoiceField> table = {
      {"train.on_nonfinite",
       {{"stop", "end the run with an error naming the rank and step (the last checkpoint stays good)"},
        {"skip", "leave the parameters and optimizer state as they were and go on "
                 "(train.max_consecutive_skips in a row end the run)"}}},
      {"runtime.device",
       {{"auto", "a CUDA device when this LibTorch has CUDA and sees one, else the CPU"},
        {"cpu", "the CPU"},
        {"cuda", "CUDA device LOCAL_RANK of those the process sees (CUDA_VISIBLE_DEVICES applies)"}}},
      {"runtime.precision",
       {{"float32", "everything in float32"},
        {"bfloat16", "autocast: matrix products and convolutions in bfloat16; weights, gradients and "
                     "optimizer state stay float32"}}},
      {"distributed.backend",
       {{"auto", "NCCL for a CUDA model, else Gloo"},
        {"gloo", "Gloo (CPU tensors)"},
        {"nccl", "NCCL (CUDA tensors)"}}},
      {"distributed.grad_dtype",
       {{"float32", "gradients travel as they are"},
        {"float16", "half the bytes"},
        {"bfloat16", "half the bytes; NCCL only (Gloo in LibTorch 1.13 cannot sum bfloat16)"}}},
      {"checkpoint.on_error",
       {{"continue", "report a failed write, keep the previous checkpoint and retry at the next one"},
        {"stop", "end the run with the error"}}},
  };
  return table;
}

const ChoiceField& choices_of(const std::string& field) {
  for (const auto& entry : closed_choices()) {
    if (field == entry.field) return entry;
  }
  throw Error(Error::Kind::kInternal, fmt::format("config/choices.cpp has no entry for '{}'", field));
}

std::vector<std::string> choice_values(const std::string& field) {
  std::vector<std::string> values;
  for (const auto& choice : choices_of(field).choices) values.push_back(choice.value);
  return values;
}

}  // namespace trainrt::config
