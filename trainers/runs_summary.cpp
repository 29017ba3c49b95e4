#include "runs_summary.h"

#include <fstream>
#include <iostream>
#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "trainrt/core/error.h"

namespace trainrt::trainers {
namespace {

// Means of the numeric fields over lines.
class Means {
 public:
  void add(const nlohmann::json& line) {
    for (const auto& [key, value] : line.items()) {
      if (value.is_number()) {
        sums_[key] += value.get<double>();
        counts_[key] += 1;
      }
    }
  }
  bool has(const std::string& key) const { return counts_.count(key) > 0; }
  double operator[](const std::string& key) const {
    return has(key) ? sums_.at(key) / counts_.at(key) : 0.0;
  }

 private:
  std::map<std::string, double> sums_;
  std::map<std::string, int64_t> counts_;
};

}  // namespace

int runs_summary_command(const std::string& run_dir) {
  const std::string path = run_dir + "/metrics.jsonl";
  std::ifstream in(path);
  if (!in) throw IoError(with_errno(fmt::format("cannot read '{}'", path)));
  nlohmann::json last_train, last_eval;
  Means train;
  int64_t checkpoints = 0, line_number = 0, membership_changes = 0, lost = 0, joined = 0, redone = 0;
  double stall_ms = 0, downtime_ms = 0, worst_downtime_ms = 0;
  int64_t smallest_world = 0;
  std::string line;
  while (std::getline(in, line)) {
    ++line_number;
    const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) {
      std::cerr << fmt::format("trainrt: {}:{}: not a JSON object, skipped\n", path, line_number);
      continue;
    }
    const std::string split = j.value("split", "");
    if (split == "train" && j.contains("loss")) {
      last_train = j;
      train.add(j);
    } else if (split == "eval") {
      last_eval = j;
    } else if (split == "checkpoint") {
      ++checkpoints;
      stall_ms += j.value("stall_ms", 0.0);
    } else if (split == "membership") {
      ++membership_changes;
      lost += static_cast<int64_t>(j.value("lost", 0.0));
      joined += static_cast<int64_t>(j.value("joined", 0.0));
      redone += static_cast<int64_t>(j.value("redone_steps", 0.0));
      downtime_ms += j.value("downtime_ms", 0.0);
      worst_downtime_ms = std::max(worst_downtime_ms, j.value("downtime_ms", 0.0));
      const auto world = static_cast<int64_t>(j.value("world_size", 0.0));
      smallest_world = smallest_world == 0 ? world : std::min(smallest_world, world);
    }
  }
  if (last_train.is_null()) throw DataError(fmt::format("{}: no train lines", path));

  std::cout << fmt::format("run {}: {} steps, epoch {}\n", run_dir, last_train["step"].get<int64_t>(),
                           last_train["epoch"].get<int64_t>() + 1);
  std::cout << fmt::format("  train loss {:.4f} (last logged), lr {:.3g}, {:.0f} samples/s (mean)\n",
                           last_train.value("loss", 0.0), last_train.value("lr", 0.0), train["samples_per_sec"]);
  if (!last_eval.is_null()) {
    std::cout << fmt::format("  eval at step {}: loss {:.4f}, accuracy {:.4f}\n", last_eval["step"].get<int64_t>(),
                             last_eval.value("loss", 0.0), last_eval.value("accuracy", 0.0));
  }
  std::cout << fmt::format("  step {:.2f} ms (mean): data wait {:.2f}, compute {:.2f}, exposed communication "
                           "{:.2f}, optimizer {:.2f}, checkpoint {:.2f}\n",
                           train["step_ms"], train["data_wait_ms"], train["compute_ms"],
                           train["exposed_allreduce_ms"], train["optimizer_ms"], train["checkpoint_ms"]);
  if (train.has("allreduce_ms")) {
    std::cout << fmt::format("  all-reduce {:.2f} ms per step, {:.0f}% hidden behind the backward pass\n",
                             train["allreduce_ms"],
                             train["allreduce_ms"] > 0
                                 ? 100.0 * (1.0 - train["exposed_allreduce_ms"] / train["allreduce_ms"])
                                 : 100.0);
  }
  std::cout << fmt::format("  checkpoints: {} written, {:.0f} ms of training held up in all\n", checkpoints,
                           stall_ms);
  if (membership_changes > 0) {
    std::cout << fmt::format("  membership: {} change{}, {} rank{} lost and {} joined, down {:.0f} ms in all "
                             "(longest {:.0f} ms), {} step{} redone, {} rank{} at the fewest\n",
                             membership_changes, membership_changes == 1 ? "" : "s", lost,
                             lost == 1 ? "" : "s", joined, downtime_ms, worst_downtime_ms, redone,
                             redone == 1 ? "" : "s", smallest_world, smallest_world == 1 ? "" : "s");
  }
  return 0;
}

}  // namespace trainrt::trainers
