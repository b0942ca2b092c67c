#pragma once
// Shrinking a violating schedule of interleave mode into a small reproducer,
// as property-based testing shrinks a failing input: try smaller schedules
// and keep each one that still shows the violation. Pure logic: the caller
// runs the candidates. Internal to pgrace.

#include <cstddef>
#include <functional>
#include <vector>

namespace pgrace::detail {

// A step of a schedule: the `step`-th step of session `session`.
struct PlannedStep {
  std::size_t session = 0;
  std::size_t step = 0;
  bool operator==(const PlannedStep& o) const { return session == o.session && step == o.step; }
};
using Plan = std::vector<PlannedStep>;

// One change that was kept.
struct ShrinkChange {
  enum class Kind {
    session_removed,  // every step of `session`
    steps_dropped,    // `session`'s steps from `from_step` on (its transaction rolled back)
    reordered,        // the same steps in an order with fewer switches
  } kind;
  std::size_t session = 0;    // session_removed, steps_dropped
  std::size_t from_step = 0;  // steps_dropped
  int switches_before = 0;    // reordered
  int switches_after = 0;     // reordered
};

struct ShrinkOutcome {
  Plan plan;                          // the smallest plan that still violates
  std::vector<ShrinkChange> changes;  // in the order they were kept
  int attempts = 0;                   // candidates tried
  bool out_of_time = false;           // stopped by `out_of_time` before trying every candidate
};

// Returns true when `plan` still shows the violation (the caller runs it).
using StillViolates = std::function<bool(const Plan&)>;

// Shrinks `plan` (which violates), trying at most `max_attempts` candidates,
// and none once `out_of_time` returns true (if given):
//   1. whole sessions removed, one at a time, in order of session index;
//   2. then, per session, its last steps dropped one at a time (at least one
//      step of each remaining session is kept);
//   3. then the remaining steps reordered: candidates with fewer context
//      switches than the current plan, fewest first, and lexicographic by
//      session within one switch count; the first that violates is kept.
// A plan always keeps at least one step.
ShrinkOutcome shrink_plan(const Plan& plan, const StillViolates& still_violates, int max_attempts,
                          const std::function<bool()>& out_of_time = {});

// The context switches of `plan`: adjacent steps of different sessions.
int plan_switches(const Plan& plan);

}  // namespace pgrace::detail
