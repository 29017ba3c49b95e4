// defines: flight_command
//
// `trainrt flight RUN_DIR`: the flight recorder's report again, from the dumps the ranks left in
// RUN_DIR/flight (dist/flight_report.h), then each rank's last collectives.
#pragma once

#include <string>

namespace trainrt::trainers {

// Prints the report; returns the exit code. Throws trainrt::Error when there are no dumps.
int flight_command(const std::string& run_dir, int last);

}  // namespace trainrt::trainers
