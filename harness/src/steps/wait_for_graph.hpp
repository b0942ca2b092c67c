#pragma once
// Whether a step that is waiting for a lock can still be released: the
// wait-for graph of one schedule's sessions, as pg_blocking_pids() and
// pg_safe_snapshot_blocking_pids() describe it. Pure logic, no database.
// Internal to pgrace.

#include <cstddef>
#include <vector>

namespace pgrace::detail {

// One session of the schedule, as seen at one moment.
struct SessionWaits {
  bool busy = false;                   // running a step (idle sessions run nothing until told to)
  std::vector<std::size_t> waits_for;  // sessions of the schedule it waits for (busy sessions only)
  bool waits_outside = false;          // it waits for a backend that is none of the schedule's sessions
};

enum class StepProspect {
  running,  // the session is busy and waits for nobody, or is no longer busy
  may_end,  // it waits, and everything it waits for may still move (running
            // sessions, backends outside the schedule, sessions waiting for
            // such), or a deadlock that the server's deadlock detector will
            // break is reachable from it
  stuck,    // no deadlock is reachable, and it waits for an idle session or
            // for a session that is itself stuck: a lock is granted only when
            // every session it waits for lets go, so nothing can release it
};

// The prospect of session `s`'s step, from the sessions' states `sessions`
// (indexed as `s` and `waits_for` are).
StepProspect step_prospect(const std::vector<SessionWaits>& sessions, std::size_t s);

}  // namespace pgrace::detail
