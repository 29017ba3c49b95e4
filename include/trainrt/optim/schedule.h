// defines: ScheduleFunction, ScheduleRegistry, Schedule, learning_rate_at
//
// The learning-rate schedule as a pure function of the step: linear warmup from 0 to the peak over
// `warmup_steps`, then the decay schedule.name names. Built in (registered when the registry is first
// used; schedule.cpp holds the one list): "constant", "cosine" (to min_lr_ratio * peak at
// `total_steps`) and "step" (times `gamma` every `step_size` steps); an application may register its
// own. Being a function of the step alone, a schedule needs no state of its own in a checkpoint.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "trainrt/config/trainrt.pb.h"
#include "trainrt/core/named_registry.h"

namespace trainrt::optim {

// The learning rate `step` steps after the warmup (0-based) of the `steps` that follow it (may be
// 0 or less when the warmup spans the whole run). Must not depend on anything but its arguments.
using ScheduleFunction = std::function<double(const config::ScheduleConfig& schedule, double peak_lr,
                                              int64_t step, int64_t steps)>;

class ScheduleRegistry {
 public:
  static ScheduleRegistry& instance();

  // Throws trainrt::ConfigError if `name` is taken.
  void add(const std::string& name, ScheduleFunction schedule) { schedules_.add(name, std::move(schedule)); }
  // The schedule `name`; throws trainrt::ConfigError naming the known ones if there is no such name.
  ScheduleFunction get(const std::string& name) const { return schedules_.get(name, "schedule.name"); }
  std::vector<std::string> names() const { return schedules_.names(); }
  // "" when `name` is registered, else the message get() throws.
  std::string problem(const std::string& name) const { return schedules_.problem(name, "schedule.name"); }

 private:
  ScheduleRegistry();
  NamedRegistry<ScheduleFunction> schedules_{"learning-rate schedule"};
};

// A config's schedule with its decay looked up once, for a caller that asks every step (the
// trainer). Throws trainrt::ConfigError if schedule.name is not registered.
class Schedule {
 public:
  Schedule(config::ScheduleConfig schedule, double peak_lr);
  // The learning rate for optimizer step `step` (0-based) of `total_steps`.
  double at(int64_t step, int64_t total_steps) const;

 private:
  config::ScheduleConfig schedule_;
  double peak_lr_;
  ScheduleFunction decay_;
};

// Schedule(schedule, peak_lr).at(step, total_steps), for a single question.
double learning_rate_at(const config::ScheduleConfig& schedule, double peak_lr, int64_t step,
                        int64_t total_steps);

}  // namespace trainrt::optim
