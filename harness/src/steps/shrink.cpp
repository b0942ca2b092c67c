#include "steps/shrink.hpp"

#include <algorithm>
#include <limits>
#include <map>

#include "pgrace/schedule.hpp"

namespace pgrace::detail {
namespace {

class Shrinker {
 public:
  Shrinker(const Plan& plan, const StillViolates& still_violates, int max_attempts,
           const std::function<bool()>& out_of_time)
      : still_violates_(still_violates), max_attempts_(max_attempts), out_of_time_(out_of_time) {
    outcome_.plan = plan;
  }

  ShrinkOutcome run() {
    remove_sessions();
    drop_trailing_steps();
    reorder();
    return outcome_;
  }

 private:
  bool exhausted() {
    if (outcome_.attempts >= max_attempts_) return true;
    if (out_of_time_ && out_of_time_()) outcome_.out_of_time = true;
    return outcome_.out_of_time;
  }

  // Tries `candidate`; keeps it when it still violates.
  bool attempt(const Plan& candidate) {
    if (candidate.empty() || exhausted()) return false;
    ++outcome_.attempts;
    if (!still_violates_(candidate)) return false;
    outcome_.plan = candidate;
    return true;
  }

  std::vector<std::size_t> sessions_in_plan() const {
    std::vector<std::size_t> sessions;
    for (const auto& step : outcome_.plan)
      if (std::find(sessions.begin(), sessions.end(), step.session) == sessions.end()) sessions.push_back(step.session);
    std::sort(sessions.begin(), sessions.end());
    return sessions;
  }

  Plan without(std::size_t session, std::size_t from_step) const {
    Plan out;
    for (const auto& step : outcome_.plan)
      if (step.session != session || step.step < from_step) out.push_back(step);
    return out;
  }

  void remove_sessions() {
    for (std::size_t session : sessions_in_plan())
      if (attempt(without(session, 0))) outcome_.changes.push_back({ShrinkChange::Kind::session_removed, session});
  }

  void drop_trailing_steps() {
    for (std::size_t session : sessions_in_plan()) {
      std::vector<std::size_t> steps;
      for (const auto& step : outcome_.plan)
        if (step.session == session) steps.push_back(step.step);
      std::size_t kept = steps.size();
      while (kept > 1 && attempt(without(session, steps[kept - 1]))) --kept;
      if (kept < steps.size()) outcome_.changes.push_back({ShrinkChange::Kind::steps_dropped, session, steps[kept]});
    }
  }

  void reorder() {
    const int current = plan_switches(outcome_.plan);
    if (current == 0 || exhausted()) return;
    const std::vector<std::size_t> sessions = sessions_in_plan();
    std::vector<int> counts(sessions.size(), 0);
    std::map<std::size_t, std::vector<std::size_t>> steps;  // per session, in order
    for (const auto& step : outcome_.plan) steps[step.session].push_back(step.step);
    for (std::size_t i = 0; i < sessions.size(); ++i) counts[i] = static_cast<int>(steps[sessions[i]].size());
    const auto budget = static_cast<std::size_t>(max_attempts_ - outcome_.attempts);
    for (const auto& order : interleavings_by_switches(counts, current - 1, budget, 0)) {
      Plan candidate;
      std::vector<std::size_t> next(sessions.size(), 0);
      for (int index : order) candidate.push_back({sessions[index], steps[sessions[index]][next[index]++]});
      if (!attempt(candidate)) continue;
      outcome_.changes.push_back({ShrinkChange::Kind::reordered, 0, 0, current, context_switches(order)});
      return;
    }
  }

  const StillViolates& still_violates_;
  const int max_attempts_;
  const std::function<bool()>& out_of_time_;
  ShrinkOutcome outcome_;
};

}  // namespace

int plan_switches(const Plan& plan) {
  int switches = 0;
  for (std::size_t i = 1; i < plan.size(); ++i) switches += plan[i].session != plan[i - 1].session;
  return switches;
}

ShrinkOutcome shrink_plan(const Plan& plan, const StillViolates& still_violates, int max_attempts,
                          const std::function<bool()>& out_of_time) {
  return Shrinker(plan, still_violates, max_attempts, out_of_time).run();
}

}  // namespace pgrace::detail
