#pragma once
// Ending the threads of a run that did not finish in time: saying what each
// one's database session was doing, then cancelling, terminating and, for a
// thread stuck in the scenario's C++ code, abandoning it, so that the run can
// end and its process exit. Internal to pgrace.

#include <chrono>
#include <functional>
#include <pqxx/connection>
#include <string>
#include <vector>

#include "core/watched_thread.hpp"

namespace pgrace::detail {

// A thread of the run, with its own database session, that has not finished.
struct Straggler {
  std::string who;                                    // e.g. "worker 3 (iteration 7, in transaction() for 2.0 s)"
  int backend_pid = 0;                                // its session's backend
  std::function<bool(Clock::time_point)> wait_until;  // true once the thread is done with the session
  std::function<void()> abandon;                      // leaves the thread running
};

// Describes each straggler with its backend's pg_stat_activity state, wait
// event and query (asked through `control`), cancels the backends
// (pg_cancel_backend), waits up to `grace`, terminates the backends of those
// still running (pg_terminate_backend), waits up to `grace` again, and
// abandons the threads that still run. `control` is pgrace's own idle
// session on the same server, or null when it is lost (then nothing is asked
// or signalled). Returns one line saying all that. Never throws.
std::string end_stragglers(pqxx::connection* control, const std::vector<Straggler>& stragglers,
                           std::chrono::milliseconds grace);

}  // namespace pgrace::detail
