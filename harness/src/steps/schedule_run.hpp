#pragma once
// One schedule of interleave mode, run step by step on the sessions'
// threads: each step is sent when its turn comes and the schedule moves on
// once it completes or is seen waiting for a lock, and the steps it released
// have completed or wait again. Internal to pgrace.

#include <chrono>
#include <map>
#include <memory>
#include <pqxx/connection>
#include <string>
#include <vector>

#include "pgrace/result.hpp"
#include "pgrace/scenario.hpp"
#include "pgrace/settings.hpp"
#include "steps/session_thread.hpp"

namespace pgrace::detail {

// A step of a schedule: which session runs it, and its definition.
struct StepRef {
  std::size_t session;
  const Step* step;
};

// How a schedule's run is bounded.
struct ScheduleBounds {
  std::chrono::milliseconds step_timeout;  // per step: neither done nor waiting -> cancelled
  // The sessions' deadlock_timeout, when it is short enough (at most
  // kMaxDeadlockSettle) to let it pass: before a step is sent, every step
  // seen waiting has waited that long, so that the server's deadlock check
  // for it has run. A deadlock is then always detected by the step that
  // closed the cycle, and its victim is the same on every run. Zero: not
  // waited for (the victim may vary).
  std::chrono::milliseconds deadlock_timeout{0};
  Clock::time_point deadline;  // the whole run's (--timeout)
  std::string timed_out;       // "timed out after 60 s (--timeout) in schedule 3 of 70"
};

// The longest deadlock_timeout run_schedule() lets pass before each step.
constexpr std::chrono::milliseconds kMaxDeadlockSettle{20};

// Runs `order` on `sessions` (threads of the sessions `definitions`, in the
// same order): each session's setup SQL, then the steps in order, then
// ROLLBACK and pg_advisory_unlock_all() on every session. A step whose session is still busy when its
// turn comes makes the schedule infeasible (ScheduleResult::feasible false)
// as soon as nothing can release that session's step (it waits only for
// idle sessions, or for sessions that themselves wait so), or after the step
// timeout; steps still waiting when the schedule ends are cancelled. What
// steps observe goes into `observations`. `control` is pgrace's own session
// on the same database. Throws ScenarioFailure when the run's deadline
// passes or a step ignores its cancellation, pgrace::Error (infrastructure)
// when a session's connection is lost, (usage) when a session's setup fails.
ScheduleResult run_schedule(std::vector<std::unique_ptr<SessionThread>>& sessions,
                            const std::vector<Session>& definitions, pqxx::connection& control,
                            const ScheduleBounds& bounds, const std::vector<StepRef>& order,
                            std::map<std::string, std::string>& observations);

}  // namespace pgrace::detail
