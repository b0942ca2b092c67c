#include "steps/schedule_plan.hpp"

#include <algorithm>
#include <climits>
#include <map>

#include "core/run_shared.hpp"
#include "pgrace/error.hpp"
#include "pgrace/schedule.hpp"

namespace pgrace::detail {
namespace {

// The step called `name`, checked to come after the session's steps so far
// (`next`: per session, the index after its last step used).
PlannedStep listed_step(const std::string& name, const std::map<std::string, PlannedStep>& by_name,
                        const std::vector<Session>& sessions, std::vector<std::size_t>& next) {
  auto it = by_name.find(name);
  if (it == by_name.end()) {
    std::string known;
    for (const auto& entry : by_name) known += (known.empty() ? "" : " ") + entry.first;
    throw usage_error("schedule names unknown step '" + name + "' (steps: " + known + ")");
  }
  const PlannedStep step = it->second;
  const Session& session = sessions[step.session];
  if (step.step < next[step.session])
    throw usage_error("schedule runs step '" + name + "' after '" + session.steps[next[step.session] - 1].name +
                      "', but session " + session.name +
                      " declares it earlier: a session's steps must appear in their declared order, once each");
  next[step.session] = step.step + 1;
  return step;
}

std::map<std::string, PlannedStep> steps_by_name(const std::vector<Session>& sessions) {
  std::map<std::string, PlannedStep> by_name;
  for (std::size_t s = 0; s < sessions.size(); ++s)
    for (std::size_t i = 0; i < sessions[s].steps.size(); ++i)
      if (!by_name.emplace(sessions[s].steps[i].name, PlannedStep{s, i}).second)
        throw usage_error("step name '" + sessions[s].steps[i].name +
                          "' is used twice: step names must be unique in a scenario");
  return by_name;
}

Plan listed_plan(const std::vector<std::string>& names, const std::vector<Session>& sessions,
                 const std::map<std::string, PlannedStep>& by_name) {
  std::vector<std::size_t> next(sessions.size(), 0);
  Plan plan;
  for (const auto& name : names) plan.push_back(listed_step(name, by_name, sessions, next));
  return plan;
}

SchedulePlan listed_plans(const std::vector<std::vector<std::string>>& listed, const std::vector<Session>& sessions,
                          const std::map<std::string, PlannedStep>& by_name, const RunSettings& settings) {
  SchedulePlan out;
  out.total = listed.size();
  for (const auto& names : listed) out.plans.push_back(listed_plan(names, sessions, by_name));
  std::stable_sort(out.plans.begin(), out.plans.end(),
                   [](const Plan& a, const Plan& b) { return plan_switches(a) < plan_switches(b); });
  out.fewest_switches = out.plans.empty() ? 0 : plan_switches(out.plans.front());
  const int max_switches = settings.max_switches.value_or(INT_MAX);
  auto beyond = std::find_if(out.plans.begin(), out.plans.end(),
                             [&](const Plan& plan) { return plan_switches(plan) > max_switches; });
  out.plans.erase(beyond, out.plans.end());
  if (out.plans.size() > settings.max_schedules) out.plans.resize(settings.max_schedules);
  for (const auto& plan : out.plans) {
    const int switches = plan_switches(plan);
    if (out.bounds.empty() || out.bounds.back().switches != switches) out.bounds.push_back({switches});
    ++out.bounds.back().total;
  }
  return out;
}

SchedulePlan generated_plan(const std::vector<Session>& sessions, const RunSettings& settings) {
  std::vector<int> steps_per_session;
  for (const auto& session : sessions) steps_per_session.push_back(static_cast<int>(session.steps.size()));
  SchedulePlan out;
  out.total = count_interleavings(steps_per_session);
  out.fewest_switches = std::max(0, static_cast<int>(std::count_if(steps_per_session.begin(), steps_per_session.end(),
                                                                   [](int steps) { return steps > 0; })) -
                                        1);
  const int max_switches = settings.max_switches.value_or(INT_MAX);
  const std::vector<std::uint64_t> counts = count_by_switches(steps_per_session);
  for (std::size_t k = 0; k < counts.size() && static_cast<int>(k) <= max_switches; ++k)
    if (counts[k] > 0) out.bounds.push_back({static_cast<int>(k), counts[k]});
  for (const auto& order :
       interleavings_by_switches(steps_per_session, max_switches, settings.max_schedules, settings.seed)) {
    std::vector<std::size_t> next(sessions.size(), 0);
    Plan plan;
    for (int s : order) plan.push_back({static_cast<std::size_t>(s), next[s]++});
    out.plans.push_back(plan);
  }
  return out;
}

}  // namespace

double SchedulePlan::planned_seconds() const {
  constexpr double kPlannedSecondsPerStep = 0.1;
  double steps = 0;
  for (const auto& plan : plans) steps += static_cast<double>(plan.size());
  return kPlannedSecondsPerStep * steps;
}

SchedulePlan plan_schedules(const std::vector<Session>& sessions, Scenario& scenario, const ScenarioInfo& info,
                            const RunSettings& settings, const std::string& dsn) {
  const auto by_name = steps_by_name(sessions);
  const auto listed = settings.schedules.empty()
                          ? call_scenario(info, "schedules()", dsn, [&] { return scenario.schedules(); })
                          : settings.schedules;
  return listed.empty() ? generated_plan(sessions, settings) : listed_plans(listed, sessions, by_name, settings);
}

SchedulePlan shard_of(const SchedulePlan& planned, ExplorationShard shard) {
  SchedulePlan mine;
  mine.fewest_switches = planned.fewest_switches;
  for (std::size_t k = static_cast<std::size_t>(shard.index - 1); k < planned.plans.size();
       k += static_cast<std::size_t>(shard.count))
    mine.plans.push_back(planned.plans[k]);
  mine.total = mine.plans.size();
  for (const SwitchBound& bound : planned.bounds) {
    SwitchBound own{bound.switches};
    for (const Plan& plan : mine.plans) own.total += plan_switches(plan) == bound.switches;
    if (own.total > 0) mine.bounds.push_back(own);
  }
  return mine;
}

}  // namespace pgrace::detail

namespace pgrace {

void check_schedule(const std::vector<Session>& sessions, const std::vector<std::string>& schedule) {
  detail::listed_plan(schedule, sessions, detail::steps_by_name(sessions));
}

}  // namespace pgrace
