#include "trainrt/obs/trace.h"

#include <chrono>

#include <nlohmann/json.hpp>

namespace trainrt::obs {
namespace {

// This thread's lane (-1: none yet) and the name it asked for.
thread_local int this_lane = -1;
thread_local std::string this_name;

}  // namespace

Trace& Trace::global() {
  static Trace trace;
  return trace;
}

int64_t Trace::now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Trace::name_thread(const std::string& name) {
  this_name = name;
  if (this_lane >= 0) {
    auto& trace = global();
    std::lock_guard<std::mutex> lock(trace.mutex_);
    trace.lane_names_[static_cast<size_t>(this_lane)] = name;
  }
}

int Trace::lane_of_this_thread() {
  // Called with mutex_ held.
  if (this_lane < 0) {
    this_lane = static_cast<int>(lane_names_.size());
    lane_names_.push_back(this_name.empty() ? "thread " + std::to_string(this_lane) : this_name);
  }
  return this_lane;
}

void Trace::span(const std::string& name, int64_t begin_us, int64_t end_us) {
  std::lock_guard<std::mutex> lock(mutex_);
  spans_.push_back({name, lane_of_this_thread(), begin_us, end_us});
}

void Trace::span_on(const std::string& lane, const std::string& name, int64_t begin_us, int64_t end_us) {
  std::lock_guard<std::mutex> lock(mutex_);
  int id = -1;
  for (size_t i = 0; i < lane_names_.size() && id < 0; ++i) {
    if (lane_names_[i] == lane) id = static_cast<int>(i);
  }
  if (id < 0) {
    id = static_cast<int>(lane_names_.size());
    lane_names_.push_back(lane);
  }
  spans_.push_back({name, id, begin_us, end_us});
}

std::string Trace::take_events_json(int pid, const std::string& process_name) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out = nlohmann::json{{"name", "process_name"}, {"ph", "M"}, {"pid", pid},
                                   {"args", {{"name", process_name}}}}.dump();
  for (size_t lane = 0; lane < lane_names_.size(); ++lane) {
    out += ",\n" + nlohmann::json{{"name", "thread_name"}, {"ph", "M"}, {"pid", pid}, {"tid", lane},
                                  {"args", {{"name", lane_names_[lane]}}}}.dump();
  }
  for (const auto& span : spans_) {
    out += ",\n" + nlohmann::json{{"name", span.name}, {"cat", "trainrt"}, {"ph", "X"}, {"pid", pid},
                                  {"tid", span.lane}, {"ts", span.begin_us},
                                  {"dur", span.end_us - span.begin_us}}.dump();
  }
  spans_.clear();
  return out;
}

}  // namespace trainrt::obs
