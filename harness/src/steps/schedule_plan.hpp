#pragma once
// Which schedules an exploration of interleave mode runs, in which order:
// the listed ones, or every interleaving of the sessions' steps, fewest
// context switches first, bounded by --max-switches and sampled down to
// --max-schedules. Internal to pgrace.

#include <cstdint>
#include <string>
#include <vector>

#include "pgrace/result.hpp"
#include "pgrace/scenario.hpp"
#include "pgrace/settings.hpp"
#include "steps/shrink.hpp"

namespace pgrace::detail {

struct SchedulePlan {
  std::vector<Plan> plans;          // in the order to run them
  std::uint64_t total = 0;          // all interleavings, or the listed schedules
  std::vector<SwitchBound> bounds;  // per switch count up to the bound, fewest first; nothing explored yet
  int fewest_switches = 0;          // of any schedule there is, within the bound or not

  // The time the plan is expected to take: 0.1 s per step (see
  // RunSettings::timeout_s).
  double planned_seconds() const;
};

// The schedules to run for `sessions`: `settings.schedules`, else the
// scenario's schedules(), each in its listed order, stably sorted by switch
// count, those with more than `settings.max_switches` left out, at most
// `settings.max_schedules` of them; else the interleavings with at most `settings.max_switches`
// switches (all if unset), fewest switches first, at most
// `settings.max_schedules` of them (sampled with `settings.seed` within the
// switch count where the limit falls). Throws pgrace::Error (usage) for
// duplicate step names, a schedule naming an unknown step or running a
// session's steps out of their declared order (steps may be left out: a
// session's open transaction is rolled back when the schedule ends), and
// what schedules() throws, as call_scenario does.
SchedulePlan plan_schedules(const std::vector<Session>& sessions, Scenario& scenario, const ScenarioInfo& info,
                            const RunSettings& settings, const std::string& dsn);

// Shard `shard` of `planned` (RunSettings::shard): its plans k (from 0)
// with k mod count = index - 1, in their order; its total and bounds count
// those. The count shards of a plan are disjoint and together hold its
// plans; a shard is empty only when the plan has fewer than index plans.
SchedulePlan shard_of(const SchedulePlan& planned, ExplorationShard shard);

}  // namespace pgrace::detail
