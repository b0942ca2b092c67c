#include "steps/interleave_runner.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <chrono>
#include <climits>
#include <map>
#include <pqxx/pqxx>

#include "util/ahead_pool.hpp"
#include "core/judge.hpp"
#include "core/run_shared.hpp"
#include "core/session_setup.hpp"
#include "pgrace/connection.hpp"
#include "pgrace/dsn.hpp"
#include "pgrace/error.hpp"
#include "pgrace/schedule.hpp"
#include "server/database.hpp"
#include "steps/schedule_plan.hpp"
#include "steps/schedule_run.hpp"
#include "steps/shrink.hpp"

namespace pgrace::detail {
namespace {

constexpr std::size_t kKeptSchedules = 20;  // violating and held schedules kept in the result
constexpr int kMaxShrinkAttempts = 200;
// The sessions' deadlock_timeout: the server checks a waiting step for a
// deadlock this soon, and each step waits for those checks (ScheduleBounds).
constexpr std::chrono::milliseconds kDeadlockTimeout{2};
// Stages at most, each on a database of its own (util/ahead_pool.hpp).
constexpr int kMaxStages = 4;

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// A schedule as it ran, with what the invariants said after it.
struct Played {
  ScheduleResult schedule;
  std::map<OutcomeClass, long> outcomes;            // per step that ran
  std::vector<std::vector<std::string>> witnesses;  // per invariant; empty: it held
  std::set<std::string> missing_observations;       // steps not run whose observation a predicate asked for
};

// The sessions, pgrace's control session and the invariants of one
// exploration: runs a schedule from a fresh state and checks it.
class Stage {
 public:
  Stage(const ScenarioInfo& info, Scenario& scenario, const std::vector<Session>& sessions,
        const std::vector<Invariant>& invariants, const RunSettings& settings, const std::string& server_dsn,
        const std::string& dsn, const Knobs& knobs)
      : info_(info),
        scenario_(scenario),
        sessions_(sessions),
        invariants_(invariants),
        settings_(settings),
        server_dsn_(server_dsn),
        control_(connect(dsn)) {
    prepare_session(*control_, Isolation::read_committed, "pgrace-control", settings.statement_timeout_s);
    for (const auto& session : sessions) {
      auto connection = connect(dsn);
      deadlock_timeout_shown_ = prepare_session(*connection, knobs.isolation, "pgrace-" + session.name,
                                                settings.statement_timeout_s, kDeadlockTimeout);
      threads_.push_back(std::make_unique<SessionThread>(std::move(connection)));
    }
    const auto in_force = parse_show_duration(deadlock_timeout_shown_);
    if (in_force && *in_force <= kMaxDeadlockSettle) deadlock_timeout_ = *in_force;
  }

  // Starts the run's time bound (--timeout), planned for `planned_s` seconds.
  void start_clock(double planned_s) {
    timeout_ = run_timeout(settings_, planned_s);
    deadline_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout_);
  }

  // The same time bound as `other`'s.
  void share_clock(const Stage& other) {
    timeout_ = other.timeout_;
    deadline_ = other.deadline_;
  }

  // The sessions' deadlock_timeout, as SHOW says it.
  const std::string& deadlock_timeout() const { return deadlock_timeout_shown_; }
  // The time its schedules took, by phase (setup and teardown not counted).
  const PhaseTimings& phases() const { return phases_; }

  // Runs `plan` from a fresh state (`where`: "schedule 3 of 70", for
  // messages) and checks every invariant after it. With `tolerant`, an
  // invariant that throws counts as held (shrinking may leave out the steps
  // its predicate reads); otherwise the run ends with verdict "error".
  Played play(const Plan& plan, const std::string& where, bool tolerant) {
    auto started = Clock::now();
    reset_state(*control_, scenario_, info_, server_dsn_);
    phases_.reset_ms += ms_between(started, Clock::now());

    started = Clock::now();
    Played played;
    std::map<std::string, std::string> observations;
    const ScheduleBounds bounds{settings_.step_timeout, deadlock_timeout_, deadline_,
                                "timed out after " + timeout_text(settings_, timeout_) + " in " + where};
    played.schedule = run_schedule(threads_, sessions_, *control_, bounds, step_refs(plan), observations);
    phases_.run_ms += ms_between(started, Clock::now());
    for (const auto& step : played.schedule.steps)
      if (step.outcome != StepOutcome::not_run) ++played.outcomes[outcome_class(step)];
    if (!played.schedule.feasible) return played;

    started = Clock::now();
    check(played, observations, where, tolerant);
    phases_.check_ms += ms_between(started, Clock::now());
    return played;
  }

  static OutcomeClass outcome_class(const StepRecord& step) {
    if (step.outcome == StepOutcome::ok) return OutcomeClass::committed;
    // No SQLSTATE: the C++ step itself threw.
    return step.sqlstate.empty() ? OutcomeClass::scenario_error : classify_sqlstate(step.sqlstate);
  }

 private:
  std::vector<StepRef> step_refs(const Plan& plan) const {
    std::vector<StepRef> refs;
    for (const auto& p : plan) refs.push_back({p.session, &sessions_[p.session].steps[p.step]});
    return refs;
  }

  void check(Played& played, const std::map<std::string, std::string>& observations, const std::string& where,
             bool tolerant) {
    pqxx::work tx(*control_);
    CheckContext context{tx, played.outcomes, 0, &observations, &played.missing_observations};
    played.witnesses.resize(invariants_.size());
    for (std::size_t i = 0; i < invariants_.size(); ++i) {
      try {
        played.witnesses[i] = check_or_fail(invariants_[i], context, settings_.max_witnesses, "after " + where);
      } catch (const ScenarioFailure&) {
        if (!tolerant) throw;
      }
      if (!played.witnesses[i].empty()) played.schedule.violated.push_back(invariants_[i].name);
    }
  }

  const ScenarioInfo& info_;
  Scenario& scenario_;
  const std::vector<Session>& sessions_;
  const std::vector<Invariant>& invariants_;
  const RunSettings& settings_;
  const std::string server_dsn_;
  std::unique_ptr<pqxx::connection> control_;
  std::string deadlock_timeout_shown_;
  PhaseTimings phases_;
  std::vector<std::unique_ptr<SessionThread>> threads_;
  std::chrono::duration<double> timeout_{0};
  Clock::time_point deadline_ = Clock::time_point::max();
  std::chrono::milliseconds deadlock_timeout_{0};  // let pass before each step (see ScheduleBounds)
};

// A stage of the pool's own: another instance of the scenario, with its
// sessions, a database and connections of its own.
class OwnStage {
 public:
  OwnStage(const ScenarioInfo& info, std::unique_ptr<Scenario> scenario, const std::vector<Session>& first_sessions,
           const RunSettings& settings, const std::string& server_dsn, const Knobs& knobs, const Stage& clock)
      : scenario_(std::move(scenario)),
        sessions_(same_shape(scenario_->sessions(), first_sessions)),
        invariants_(scenario_->invariants()),
        database_(server_dsn, scenario_->schema(), info.name),
        stage_(info, *scenario_, sessions_, invariants_, settings, server_dsn, database_.dsn(), knobs) {
    stage_.share_clock(clock);
  }
  Stage& stage() { return stage_; }

 private:
  // `sessions`, when they have the names and steps of `first`'s (a plan
  // names sessions and steps by their place).
  static std::vector<Session> same_shape(std::vector<Session> sessions, const std::vector<Session>& first) {
    bool same = sessions.size() == first.size();
    for (std::size_t i = 0; same && i < sessions.size(); ++i) {
      same = sessions[i].name == first[i].name && sessions[i].steps.size() == first[i].steps.size();
      for (std::size_t j = 0; same && j < sessions[i].steps.size(); ++j)
        same = sessions[i].steps[j].name == first[i].steps[j].name;
    }
    if (!same) throw std::runtime_error("another instance of the scenario has other sessions");
    return sessions;
  }

  std::unique_ptr<Scenario> scenario_;
  std::vector<Session> sessions_;
  std::vector<Invariant> invariants_;
  ScenarioDatabase database_;
  Stage stage_;
};

using StagePool = AheadPool<std::size_t, Stage, Played>;

// Plays schedule k of `planned` on a stage.
StagePool::RunOn play_in(const SchedulePlan& planned) {
  return [&planned](Stage& stage, const std::size_t& k) {
    return stage.play(planned.plans[k],
                      "schedule " + std::to_string(k + 1) + " of " + std::to_string(planned.plans.size()), false);
  };
}

// Makes the pool's other stages, when the scenario can be made again.
StagePool::RunnerMaker more_stages(const ScenarioInfo& info, const ScenarioMaker& make_more,
                                   const std::vector<Session>& sessions, const RunSettings& settings,
                                   const std::string& server_dsn, const Knobs& knobs, const Stage& first) {
  if (!make_more) return {};
  return [&info, &make_more, &sessions, &settings, server_dsn, knobs, &first] {
    require_connection_room(server_dsn, static_cast<int>(sessions.size()) + 1);
    auto own = std::make_shared<OwnStage>(info, make_more(), sessions, settings, server_dsn, knobs, first);
    return std::shared_ptr<Stage>(own, &own->stage());
  };
}

void add_phases(PhaseTimings& sum, const PhaseTimings& more) {
  sum.reset_ms += more.reset_ms;
  sum.run_ms += more.run_ms;
  sum.check_ms += more.check_ms;
}

// What the exploration learned beyond the result's counts, for its verdict.
struct Evidence {
  std::string first_infeasible;  // why the first infeasible schedule was
  std::string first_failure;     // the first failed step
  std::string step_threw;        // the first C++ step whose own exception escaped (a bug in the scenario)
  std::string first_code_error;  // the first step that failed with an error concurrency never causes
  bool any_step_ok = false;
  std::optional<Plan> first_violating;
};

// Folds one explored schedule into the result.
void tally(Played&& played, int switches, const std::string& server_dsn, ScenarioResult& result, Evidence& evidence) {
  Exploration& exploration = result.exploration;
  ++exploration.explored;
  auto bound = std::find_if(exploration.bounds.begin(), exploration.bounds.end(),
                            [&](const SwitchBound& b) { return b.switches == switches; });
  ++bound->explored;
  for (const auto& [kind, n] : played.outcomes) result.outcomes[kind] += n;
  for (const auto& step : played.schedule.steps) {
    if (step.outcome == StepOutcome::not_run) continue;
    ++result.attempts;
    evidence.any_step_ok = evidence.any_step_ok || (step.outcome == StepOutcome::ok && played.schedule.feasible);
    if (step.outcome == StepOutcome::ok) continue;
    if (step.sqlstate.empty() && evidence.step_threw.empty())
      evidence.step_threw = "step " + step.step + " threw: " + pgrace::one_line(step.message, 300);
    ++result.sqlstates[step.sqlstate.empty() ? to_string(Stage::outcome_class(step)) : step.sqlstate];
    if (evidence.first_failure.empty())
      evidence.first_failure = "step " + step.step + ": " + (step.sqlstate.empty() ? "" : step.sqlstate + " ") +
                               pgrace::one_line(step.message, 200);
    if (evidence.first_code_error.empty() && is_code_error(step.sqlstate))
      evidence.first_code_error = "step " + step.step + " (" + pgrace::one_line(step.sql, 200) + "): " + step.sqlstate +
                                  " " + pgrace::one_line(step.message, 300);
  }
  if (!played.schedule.feasible) {
    ++bound->infeasible;
    ++exploration.infeasible;
    if (evidence.first_infeasible.empty()) evidence.first_infeasible = played.schedule.note;
    return;
  }
  for (std::size_t i = 0; i < played.witnesses.size(); ++i)
    if (!played.witnesses[i].empty()) record_violation(result.invariants[i], played.witnesses[i]);
  if (played.schedule.violated.empty()) {
    if (exploration.held_schedules.size() < kKeptSchedules)
      exploration.held_schedules.push_back(std::move(played.schedule));
    return;
  }
  ++bound->violated;
  ++exploration.violating;
  for (auto& step : played.schedule.steps) step.message = scrub_secrets(step.message, server_dsn);
  // The first violating schedule is the reproducer until it is shrunk (and
  // stays it should the run time out first).
  if (!exploration.reproducer) exploration.reproducer = played.schedule;
  if (exploration.violating_schedules.size() < kKeptSchedules)
    exploration.violating_schedules.push_back(std::move(played.schedule));
}

// When the --budget that starts now runs out (never, without one).
Clock::time_point budget_end_of(const RunSettings& settings) {
  if (!settings.budget_s) return Clock::time_point::max();
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(*settings.budget_s));
}

// Runs the planned schedules in order until they are done or the budget
// runs out at `budget_end`, offering `progress` a report before each; the
// pool's other stages run the next ones ahead of their turn.
void explore(StagePool& pool, const SchedulePlan& planned, const RunSettings& settings, Clock::time_point budget_end,
             const std::string& server_dsn, ProgressReporter& progress, ScenarioResult& result, Evidence& evidence) {
  const std::size_t count = planned.plans.size();
  for (std::size_t k = 0; k < count; ++k) {
    progress.offer(ProgressUnit::schedules, static_cast<long>(k), static_cast<long>(count),
                   result.exploration.violating);
    if (Clock::now() >= budget_end) {
      result.exploration.stopped = "the budget of " + seconds_text(*settings.budget_s) + " (--budget) ran out after " +
                                   std::to_string(k) + " of " + std::to_string(count) + " schedules";
      return;
    }
    const Plan& plan = planned.plans[k];
    std::vector<std::size_t> upcoming;
    for (std::size_t next = k + 1; next < count && upcoming.size() < 2 * kMaxStages; ++next) upcoming.push_back(next);
    pool.ahead(upcoming);
    Played played = pool.run(k);
    if (settings.on_explored) settings.on_explored(std::nullopt, played.schedule.schedule);
    if (!played.schedule.violated.empty() && !evidence.first_violating) evidence.first_violating = plan;
    tally(std::move(played), plan_switches(plan), server_dsn, result, evidence);
  }
}

std::string change_text(const ShrinkChange& change, const Plan& original, const std::vector<Session>& sessions) {
  const Session& session = sessions[change.session];
  switch (change.kind) {
    case ShrinkChange::Kind::session_removed: {
      std::string steps;
      for (const auto& p : original)
        if (p.session == change.session) steps += " " + session.steps[p.step].name;
      return "removed session " + session.name + " (steps" + steps + ")";
    }
    case ShrinkChange::Kind::steps_dropped: {
      std::string steps;
      for (const auto& p : original)
        if (p.session == change.session && p.step >= change.from_step) steps += " " + session.steps[p.step].name;
      return "dropped session " + session.name + "'s trailing steps" + steps + " (its transaction rolled back)";
    }
    case ShrinkChange::Kind::reordered:
      return "reordered the steps: " + std::to_string(change.switches_before) + " -> " +
             std::to_string(change.switches_after) + " context switches";
  }
  return "";
}

// Steps that ended with an exception of the scenario's own C++ code (no
// SQLSTATE), e.g. a C++ step reading the observation of a step that did not run.
std::set<std::string> cpp_failures(const ScheduleResult& schedule) {
  std::set<std::string> steps;
  for (const auto& step : schedule.steps)
    if (step.outcome == StepOutcome::error && step.sqlstate.empty()) steps.insert(step.step);
  return steps;
}

// Whether `candidate` shows what `original` showed: `invariant` violated,
// without a predicate reading the observation of a step left out and
// without a C++ step failing that did not fail in the original.
bool still_violates(const Played& candidate, const ScheduleResult& original, const std::string& invariant) {
  const auto& violated = candidate.schedule.violated;
  if (std::find(violated.begin(), violated.end(), invariant) == violated.end()) return false;
  if (!candidate.missing_observations.empty()) return false;
  const auto before = cpp_failures(original);
  for (const auto& step : cpp_failures(candidate.schedule))
    if (!before.count(step)) return false;
  return true;
}

// When shrinking stops: after 20 times the time an explored schedule took
// on average (at least 5 s), and not after the --budget's end.
Clock::time_point shrink_deadline(const ScenarioResult& result, Clock::time_point budget_end) {
  const std::chrono::duration<double> per_schedule(1 / std::max(1e-3, result.exploration.schedules_per_s));
  const auto limit = std::max<std::chrono::duration<double>>(std::chrono::seconds(5), 20 * per_schedule);
  return std::min(budget_end, Clock::now() + std::chrono::duration_cast<Clock::duration>(limit));
}

// The same steps as `plan`, each session running all of its steps at once,
// sessions in the order they first appear.
Plan serial_of(const Plan& plan) {
  Plan serial;
  for (const auto& first : plan) {
    if (std::any_of(serial.begin(), serial.end(), [&](const PlannedStep& p) { return p.session == first.session; }))
      continue;
    for (const auto& step : plan)
      if (step.session == first.session) serial.push_back(step);
  }
  return serial;
}

// Whether `invariant` holds when the steps of `plan` run serially (see
// serial_of()): a schedule that violates it while its serial order holds
// shows a concurrency bug, not work left undone.
bool holds_serially(Stage& stage, const Plan& plan, const std::string& invariant) {
  const Played serial = stage.play(serial_of(plan), "the serial order of a shrinking attempt", true);
  const auto& violated = serial.schedule.violated;
  return serial.schedule.feasible && serial.missing_observations.empty() &&
         std::find(violated.begin(), violated.end(), invariant) == violated.end();
}

// Shrinks the first violating schedule into the reproducer, keeping its
// first violated invariant violated (see still_violates()), and returns
// the reproducer's plan. When the serial
// order of the original holds, a candidate's serial order must hold too: an
// invariant about the whole work ("the counter is 2") is violated by merely
// leaving work out, which reproduces nothing.
Plan shrink_reproducer(Stage& stage, const Plan& first, const std::vector<Session>& sessions,
                       const std::string& server_dsn, Clock::time_point deadline, Exploration& exploration) {
  const ScheduleResult& original = exploration.violating_schedules.front();
  const std::string invariant = original.violated.front();
  const bool serial_must_hold = holds_serially(stage, first, invariant);
  ScheduleResult smallest = original;
  int attempt = 0;
  const ShrinkOutcome outcome = shrink_plan(
      first,
      [&](const Plan& candidate) {
        Played played = stage.play(candidate, "shrinking attempt " + std::to_string(++attempt), true);
        if (!still_violates(played, original, invariant)) return false;
        if (serial_must_hold && !holds_serially(stage, candidate, invariant)) return false;
        smallest = std::move(played.schedule);
        return true;
      },
      kMaxShrinkAttempts, [deadline] { return Clock::now() >= deadline; });
  for (auto& step : smallest.steps) step.message = scrub_secrets(step.message, server_dsn);
  exploration.reproducer = smallest;
  Shrinking shrinking{invariant, original, {}, outcome.attempts};
  for (const auto& change : outcome.changes) shrinking.changes.push_back(change_text(change, first, sessions));
  if (outcome.out_of_time)
    shrinking.changes.push_back("stopped at the shrinking time limit: a smaller reproducer may exist");
  exploration.shrinking = std::move(shrinking);
  return outcome.plan;
}

// Runs the reproducer `plan` once more (RunSettings::keep), so that the
// database holds the state it leaves; returns what the kept database holds.
std::string replay_reproducer(Stage& stage, const Plan& plan) {
  const Played replay = stage.play(plan, "the reproducer's replay (--keep)", true);
  return std::string("the state the minimal reproducer leaves (replayed once more after the exploration") +
         (replay.schedule.violated.empty() ? "; this replay violated nothing, so it may not show the violation)" : ")");
}

// Why a run whose schedules ran proves nothing, or "": a C++ step threw
// (as transaction() throwing does in stress mode); see also
// ScenarioInfo::expects_no_commits, RunSettings::budget_s.
std::string lack_of_evidence(const ScenarioInfo& info, const ScenarioResult& result, const Evidence& evidence) {
  if (!evidence.step_threw.empty()) return evidence.step_threw;
  if (auto code_errors = code_errors_error(info, result.sqlstates, evidence.first_code_error); !code_errors.empty())
    return code_errors;
  const Exploration& exploration = result.exploration;
  const long feasible = exploration.explored - exploration.infeasible;
  if (!exploration.stopped.empty() && exploration.violating == 0)
    return partial_exploration_error(exploration.stopped, "schedule");
  if (exploration.explored > 0 && feasible == 0)
    return "no schedule was feasible (" + std::to_string(exploration.explored) +
           " explored; the first: " + evidence.first_infeasible +
           "): the run tested nothing; fix the scenario's schedules";
  if (feasible > 0 && !evidence.any_step_ok && !info.expects_no_commits)
    return "no step succeeded in any of the " + std::to_string(feasible) +
           " feasible schedule(s) (first failure: " + evidence.first_failure +
           "): the run tested nothing; fix the scenario, or set expects_no_commits in its "
           "info() if that is intended";
  return "";
}

// Throws ScenarioFailure when --max-switches leaves `planned` no schedule:
// fewer switches than any schedule has (the sessions that have steps need
// one fewer than their number). A run that tests nothing must not pass.
void require_schedules(const SchedulePlan& planned, const RunSettings& settings) {
  if (!planned.plans.empty()) return;
  throw ScenarioFailure("--max-switches " + std::to_string(settings.max_switches.value_or(0)) +
                        " leaves no schedule to explore: every schedule has at least " +
                        std::to_string(planned.fewest_switches) + " context switch(es); the run tested nothing");
}

}  // namespace

void run_interleaved(const Server& server, const ScenarioInfo& info, Scenario& scenario,
                     const std::vector<Session>& sessions, const RunSettings& settings, ProgressReporter& progress,
                     ScenarioResult& result, const ScenarioMaker& make_more) {
  const std::string& server_dsn = server.dsn();
  const std::vector<Invariant> invariants =
      call_scenario(info, "invariants()", server_dsn, [&] { return scenario.invariants(); });
  result.invariants = invariant_entries(invariants);
  const SchedulePlan whole = plan_schedules(sessions, scenario, info, settings, server_dsn);
  const SchedulePlan planned = settings.shard ? shard_of(whole, *settings.shard) : whole;
  if (settings.shard)
    result.exploration.shard = ShardShare{settings.shard->index, settings.shard->count, whole.plans.size(), 0};
  result.exploration.total = planned.total;
  result.exploration.max_switches = settings.max_switches;
  result.exploration.bounds = planned.bounds;
  require_schedules(whole, settings);
  const std::string schema = call_scenario(info, "schema()", server_dsn, [&] { return scenario.schema(); });

  auto phase_start = Clock::now();
  ScenarioDatabase database(server_dsn, schema, info.name);
  Evidence evidence;
  std::string kept_state;  // RunSettings::keep: what the database holds, once the reproducer ran again
  {
    Stage stage(info, scenario, sessions, invariants, settings, server_dsn, database.dsn(), result.knobs);
    result.deadlock_timeout = stage.deadlock_timeout();
    result.phases.setup_ms = ms_between(phase_start, Clock::now());
    // The run's time bound counts from here: the scenario's own work.
    stage.start_clock(planned.planned_seconds());
    const auto budget_end = budget_end_of(settings);
    const auto explore_start = Clock::now();
    {
      StagePool pool(stage, play_in(planned), more_stages(info, make_more, sessions, settings, server_dsn, result.knobs, stage),
                     kMaxStages);
      explore(pool, planned, settings, budget_end, server_dsn, progress, result, evidence);
      result.exploration.schedules_per_s =
          result.exploration.explored / std::max(1e-3, ms_between(explore_start, Clock::now()) / 1000);
      result.exploration.runners = pool.runners();
      pool.for_each_extra([&](const Stage& extra) { add_phases(result.phases, extra.phases()); });
    }
    std::optional<Plan> reproducer = evidence.first_violating;
    if (reproducer && settings.shrink && settings.schedules.empty())
      reproducer = shrink_reproducer(stage, *reproducer, sessions, server_dsn, shrink_deadline(result, budget_end),
                                     result.exploration);
    if (reproducer && settings.keep) kept_state = replay_reproducer(stage, *reproducer);
    add_phases(result.phases, stage.phases());
    phase_start = Clock::now();
  }
  if (!kept_state.empty()) {
    database.keep();
    result.kept = KeptDatabase{database.name(), kept_state};
  }
  result.error = scrub_secrets(lack_of_evidence(info, result, evidence), server_dsn);
  result.phases.teardown_ms = ms_between(phase_start, Clock::now());
}

}  // namespace pgrace::detail
