#pragma once
// Stress mode's invariant monitor: the thread that checks the during-run
// invariants while the workers run, and stopping it. Internal to pgrace.

#include <chrono>
#include <string>

#include <pqxx/connection>

#include "core/watched_thread.hpp"
#include "stress/state.hpp"

namespace pgrace::detail::stress {

// Checks the during-run invariants until told to stop: every 5 ms at first,
// when races show up, then less often (up to every 10 ms). With nothing left
// to check it still sends SELECT 1, so that a lost connection shows at once.
// A failure stops the run: the main thread wakes up and judges it.
void monitor_main(Repetition& rep, pqxx::connection& connection, Clock::time_point released);

// Stops the monitor, letting it finish its check until `deadline` (at least
// kGrace); if it does not stop (stuck in a predicate), ends it as a
// straggler and returns what happened.
std::string stop_monitor(Repetition& rep, WatchedThread& monitor, int monitor_pid, pqxx::connection* control,
                         Clock::time_point deadline);

}  // namespace pgrace::detail::stress
