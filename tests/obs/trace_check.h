// defines: TraceSpanInfo, read_trace_spans, trace_nesting_problems — checks on a Chrome trace file.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace trainrt::testing {

struct TraceSpanInfo {
  std::string name, lane;
  int pid = 0, tid = 0;
  int64_t begin = 0, end = 0;
};

// The complete ("X") spans of the trace at `path`, with their lanes' names. Throws if the file is
// not well-formed JSON.
inline std::vector<TraceSpanInfo> read_trace_spans(const std::string& path) {
  const auto trace = nlohmann::json::parse(read_file(path));
  std::map<std::pair<int, int>, std::string> lanes;
  for (const auto& e : trace.at("traceEvents")) {
    if (e.at("ph") == "M" && e.at("name") == "thread_name") lanes[{e.at("pid"), e.at("tid")}] = e.at("args").at("name");
  }
  std::vector<TraceSpanInfo> spans;
  for (const auto& e : trace.at("traceEvents")) {
    if (e.at("ph") != "X") continue;
    TraceSpanInfo span{e.at("name"), "", e.at("pid"), e.at("tid"), e.at("ts"), 0};
    span.end = span.begin + e.at("dur").get<int64_t>();
    span.lane = lanes[{span.pid, span.tid}];
    spans.push_back(span);
  }
  return spans;
}

// Spans of one lane that overlap without one containing the other (a viewer would draw them
// wrongly), described; empty if all nest.
inline std::vector<std::string> trace_nesting_problems(std::vector<TraceSpanInfo> spans) {
  std::sort(spans.begin(), spans.end(), [](const auto& a, const auto& b) {
    return std::tie(a.pid, a.tid, a.begin, b.end) < std::tie(b.pid, b.tid, b.begin, a.end);
  });
  std::vector<std::string> problems;
  std::vector<TraceSpanInfo> open;  // enclosing spans of the current lane
  for (const auto& span : spans) {
    while (!open.empty() && (open.back().pid != span.pid || open.back().tid != span.tid ||
                             open.back().end <= span.begin)) {
      open.pop_back();
    }
    if (!open.empty() && span.end > open.back().end) {
      problems.push_back(span.name + " overlaps " + open.back().name + " on " + span.lane);
    }
    open.push_back(span);
  }
  return problems;
}

}  // namespace trainrt::testing
