// defines: NamedValues, format_named_values
//
// A list of named numbers in a fixed order: one interval's or evaluation's metrics, written under
// the same names to metrics.jsonl, TensorBoard and the log line.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace trainrt::obs {

using NamedValues = std::vector<std::pair<std::string, double>>;

// "loss 0.5012 lr 0.1 samples_per_sec 5012": four significant digits, whole numbers from 1000 up
// (obs/progress.cpp).
std::string format_named_values(const NamedValues& values);

}  // namespace trainrt::obs
