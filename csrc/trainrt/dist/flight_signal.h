// defines: install_flight_dump_handlers
//
// The flight recorder's process-wide triggers (signals and std::terminate belong to the process:
// the program, trainers/main.cpp, installs them, not the library):
// - SIGUSR1 asks a running worker what its collectives are doing, without stopping it: every
//   flight recorder of the process (dist/flight_recorder.h) dumps, and the lowest rank whose dump
//   is in prints the report (dist/flight_report.h) once the others had a second to dump too.
//   `trainrt launch` forwards SIGUSR1 to every worker, so one `kill -USR1 <launcher>` covers the job.
// - std::terminate (an exception escaped a thread: Gloo's transport threads end the process this
//   way when ranks exchange collectives of different sizes) dumps before the process dies, so the
//   rank that crashed is in the report too.
#pragma once

namespace trainrt::dist {

// Installs the SIGUSR1 handler, the thread that dumps, and the terminate handler (once per
// process; later calls do nothing).
void install_flight_dump_handlers();

}  // namespace trainrt::dist
