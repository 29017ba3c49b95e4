// defines: read_flight_dumps, flight_report
//
// Reads the ranks' flight recorder dumps (dist/flight_recorder.h) and says in a few lines why the
// group stopped: which rank issued something else at the same collective number (the ranks
// diverged), which rank is behind (the others wait in a collective it never issued), which left no
// dump at all (stopped, killed, unreachable), or that every rank joined and the collective itself
// is stuck. A pure function of the dumps, so tests pin it without processes.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "trainrt/dist/flight_recorder.h"

namespace trainrt::dist {

// Every rank_<id>.json in `dir`. Throws trainrt::Error naming the folder when it holds none, or a
// file that is not a dump.
std::vector<FlightDump> read_flight_dumps(const std::string& dir);

// The report on the newest incident among `dumps`: those of the newest dump's group, dumped within
// a minute of it (older ones are another incident and are named as skipped).
std::string flight_report(const std::vector<FlightDump>& dumps);

// After this process dumped (`receipt`): waits up to `wait` for the other ranks of its group to
// dump theirs, then returns the report if this process has the lowest id among those that did,
// else "" (one report per incident, not one per rank).
std::string incident_report(const FlightDumpReceipt& receipt, std::chrono::milliseconds wait);

// What a failing process adds to its error after it dumped (`receipt`): the incident's report when
// it is the lowest rank that dumped (waiting up to `wait` for the others), and where the records
// are, e.g. "\nflight records: RUN/flight (trainrt flight RUN/flight)".
std::string flight_epilogue(const FlightDumpReceipt& receipt, std::chrono::milliseconds wait);

}  // namespace trainrt::dist
