#pragma once
// Running one repetition of a stress run: its workers and monitor released
// together, awaited until they finish, fail or pass the run's deadline, and
// every thread ended. Internal to pgrace.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "stress/connections.hpp"
#include "stress/state.hpp"

namespace pgrace::detail::stress {

// How the wait for a repetition's workers ended.
enum class WaitEnd { finished, monitor_failed, control_lost, timed_out };

// What the main thread learnt from running one repetition.
struct RepetitionRun {
  WaitEnd end = WaitEnd::finished;
  bool timed_out = false;
  std::string control_error;  // control_lost: why
  std::string stragglers;     // timed_out: who was stuck, doing what, and what pgrace did
  std::vector<bool> joined;   // per worker: ended and joined (its state may be read)
  long ended = 0;             // transactions ended when the wait ended
  Clock::time_point released{};
  double run_ms = 0;
};

// Runs one repetition's workers and monitor until they finish, fail, or the
// run's `deadline` passes; ends every thread it started (or abandons it).
RepetitionRun run_repetition(const std::shared_ptr<Repetition>& rep, Connections& c, Clock::time_point deadline,
                             const std::function<void()>& progress);

}  // namespace pgrace::detail::stress
