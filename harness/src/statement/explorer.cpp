#include "statement/explorer.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <set>
#include <sstream>

#include "util/ahead_pool.hpp"
#include "core/judge.hpp"
#include "core/run_shared.hpp"
#include "faults/rules.hpp"
#include "pgrace/error.hpp"
#include "server/database.hpp"
#include "statement/execution.hpp"
#include "statement/shard_parts.hpp"
#include "wire/request_history.hpp"

namespace pgrace::detail {
namespace {

constexpr std::size_t kKeptSchedules = 20;
// The planned time of one execution, for the default run timeout.
constexpr double kPlannedSecondsPerExecution = 0.05;
// The time an extra runner's first, unrecorded execution may take.
constexpr std::chrono::seconds kWarmUpLimit{10};
// Runners at most, each on a database of its own (util/ahead_pool.hpp).
constexpr int kMaxRunners = 4;
using ExecutionPool = AheadPool<ExecutionKey, StatementRunner, StatementExecution>;

// A schedule prefix still to run: its context switches (exact: the default
// continuation never preempts), its input draw, the fault it injects and
// its choices. In this order: every draw at n switches before any at n + 1.
struct Candidate {
  int switches = 0;
  int draw = 0;
  std::optional<PlannedFault> fault;
  std::vector<int> prefix;
  bool operator<(const Candidate& other) const {
    return std::tie(switches, draw, fault, prefix) <
           std::tie(other.switches, other.draw, other.fault, other.prefix);
  }
};

// The suffix of a faulted request's step name: "!drop_reply".
std::string fault_suffix(std::optional<FaultKind> kind) { return kind ? std::string("!") + to_string(*kind) : ""; }

std::string worker_name(int w) { return "w" + std::to_string(w + 1); }

// A request's step name: "w2.3" (worker 2's third chosen request; with
// "!drop_reply" when that fault hit it), "w2.begin" or "w2.prepare" (let
// through without a choice: a bare BEGIN, a request that executes nothing).
std::string step_name_of(const ScheduledRequest& r) {
  return worker_name(r.worker) + "." +
         (r.chosen ? std::to_string(r.ordinal) : r.request.executes ? "begin" : "prepare") +
         fault_suffix(r.request.fault);
}

StepRecord step_of(const ScheduledRequest& r, const std::string& name) {
  StepRecord step;
  step.step = name;
  step.session = worker_name(r.worker);
  step.sql = sql_text(r.request);
  step.waited = r.waited;
  for (int blocker : r.blocked_by) step.blocked_by.push_back(worker_name(blocker));
  step.sqlstate = r.request.sqlstate;
  step.completed_as = r.completed_as;
  step.outcome = !r.request.completed            ? StepOutcome::not_run
                 : r.request.sqlstate == "57014" ? StepOutcome::cancelled
                 : r.request.sqlstate.empty()    ? StepOutcome::ok
                                                 : StepOutcome::error;
  if (r.request.status) step.observation = std::string("transaction status ") + r.request.status;
  step.fault = r.request.fault;
  if (r.request.fault == FaultKind::drop_reply)
    step.observation += "; pgrace dropped the connection before the reply reached the client";
  if (r.request.fault == FaultKind::drop_before_send)
    step.observation = "pgrace dropped the connection before sending it";
  return step;
}

// An execution as a schedule of interleave mode: its requests as steps,
// "w1.2" being worker 1's second chosen request ("w1.begin" a BEGIN let
// through without a choice).
ScheduleResult schedule_of(const StatementExecution& e, const std::vector<Invariant>& invariants) {
  ScheduleResult s;
  std::vector<std::pair<int, std::string>> completions;
  for (const ScheduledRequest& r : e.requests) {
    const std::string name = step_name_of(r);
    s.schedule.push_back(name);
    s.steps.push_back(step_of(r, name));
    if (r.completed_as >= 0) completions.emplace_back(r.completed_as, name);
  }
  std::sort(completions.begin(), completions.end());
  for (auto& [order, name] : completions) s.completion_order.push_back(name);
  for (std::size_t i = 0; i < e.witnesses.size(); ++i)
    if (!e.witnesses[i].empty()) s.violated.push_back(invariants[i].name);
  s.feasible = !e.diverged;
  s.note = e.note;
  if (e.fault && !e.fault_injected)
    s.note += std::string(s.note.empty() ? "" : "; ") + "the planned fault's request was not sent";
  for (std::size_t w = 0; w < e.outcomes.size(); ++w)
    s.note += std::string(s.note.empty() ? "" : "; ") + worker_name(static_cast<int>(w)) + ": " +
              to_string(e.outcomes[w].kind);
  s.switches = preemptions_of(s);
  s.draw = e.draw;
  return s;
}

// The prefixes that branch off `e` after its own prefix of `from` choices:
// at every later choice point, each other enabled worker.
std::vector<Candidate> branches(const StatementExecution& e, std::size_t from) {
  std::vector<Candidate> out;
  std::vector<int> prefix;
  int switches = 0;
  for (std::size_t i = 0; i < e.points.size(); ++i) {
    const ChoicePoint& point = e.points[i];
    const int last = i ? e.points[i - 1].chosen : -1;
    const bool last_enabled = std::find(point.enabled.begin(), point.enabled.end(), last) != point.enabled.end();
    if (i >= from)
      for (int w : point.enabled)
        if (w != point.chosen) {
          std::vector<int> branch = prefix;
          branch.push_back(w);
          out.push_back({switches + (last_enabled && w != last), e.draw, e.fault, std::move(branch)});
        }
    switches += last_enabled && point.chosen != last;
    prefix.push_back(point.chosen);
  }
  return out;
}

// The faults to try on the schedule of `e`, a fault-free execution: each
// rule (but delay_reply, which changes no order here) at each chosen
// request it targets, with the choices up to that request.
std::vector<Candidate> fault_candidates(const StatementExecution& e, const std::vector<FaultRule>& rules) {
  std::vector<Candidate> out;
  std::size_t choices = 0;
  for (const ScheduledRequest& r : e.requests) {
    if (!r.chosen) continue;
    ++choices;
    for (const FaultRule& rule : rules)
      if (rule.kind != FaultKind::delay_reply && targets(rule, r.request)) {
        std::vector<int> prefix;
        for (std::size_t i = 0; i < choices && i < e.points.size(); ++i) prefix.push_back(e.points[i].chosen);
        out.push_back({e.switches(choices), e.draw, PlannedFault{r.worker, r.ordinal, rule}, std::move(prefix)});
      }
  }
  return out;
}

// The usage error of a replayed --schedule whose choice number `choice`
// (from 0) named a worker that had sent all its requests (defined below).
std::string missing_request(const std::vector<std::string>& schedule, int workers, std::size_t choice);

class StatementExploration {
 public:
  StatementExploration(const ScenarioInfo& info, const RunSettings& settings, ProgressReporter& progress,
                       ScenarioResult& result, const std::vector<Invariant>& invariants, StatementRunner& runner,
                       ExecutionPool& pool)
      : info_(info),
        settings_(settings),
        progress_(progress),
        result_(result),
        invariants_(invariants),
        runner_(runner),
        pool_(pool) {
    if (settings.shard) {
      parts_.emplace(*settings.shard);
      result_.exploration.shard = ShardShare{settings.shard->index, settings.shard->count, 0, 0};
    }
  }

  // `deadline`: the run's, for the executions run outside the pool (a
  // shard's discovery, the reproducer's replay with RunSettings::keep).
  void run(Clock::time_point deadline) {
    deadline_ = deadline;
    // Known from the start, so that a run that times out says the same.
    result_.exploration.max_switches = settings_.max_switches;
    result_.exploration.statement_workers = runner_.workers();
    const Clock::time_point budget_end = settings_.budget_s
                                             ? Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                                  std::chrono::duration<double>(*settings_.budget_s))
                                             : Clock::time_point::max();
    if (!settings_.schedules.empty()) {
      result_.exploration.total = settings_.schedules.size();
      result_.exploration.draws = 1;
      for (const auto& schedule : settings_.schedules) {
        const StatementExecution e = execute({0, settings_.draw.value_or(0), planned_fault_of(schedule, runner_.workers()),
                                              choices_of(schedule, runner_.workers())},
                                             false);
        if (e.chose_finished) throw usage_error(missing_request(schedule, runner_.workers(), e.points.size()));
      }
    } else {
      explore(budget_end);
    }
    finish();
    if (settings_.keep && result_.exploration.reproducer) replay_reproducer();
  }

  // With RunSettings::keep: what the last execution left in the database,
  // the reproducer's state ("" when none was replayed).
  const std::string& kept_state() const { return kept_state_; }

 private:
  void explore(Clock::time_point budget_end) {
    std::set<Candidate> frontier;
    Exploration& x = result_.exploration;
    x.draws = 1;
    if (parts_)
      deal_parts(frontier);
    else
      frontier.insert(Candidate{0, settings_.draw.value_or(0), {}, {}});
    // The executions known within the bound: run, and still to run.
    const auto known = [&] {
      return static_cast<std::uint64_t>(x.explored) +
             static_cast<std::uint64_t>(std::count_if(frontier.begin(), frontier.end(),
                                                      [this](const Candidate& c) { return within_bound(c); }));
    };
    while (!frontier.empty()) {
      x.total = known();  // so far, should the run time out
      const Candidate next = *frontier.begin();
      if (!within_bound(next)) break;
      const std::string stopped = "the exploration stopped after " + std::to_string(x.explored) + " executions, ";
      if (explored_in_draw_[next.draw] >= settings_.max_schedules) {
        x.stopped = stopped + "at --max-schedules " + std::to_string(settings_.max_schedules) +
                    (x.draws > 1 ? " in input draw " + std::to_string(next.draw) : "");
        break;
      }
      if (Clock::now() >= budget_end) {
        x.stopped = stopped + "when its budget of " + seconds_text(*settings_.budget_s) + " (--budget) ran out";
        break;
      }
      frontier.erase(frontier.begin());
      pool_.ahead(upcoming(frontier));
      const StatementExecution e = execute(next, true);
      if (!parts_ && x.explored == 1 && e.drew_inputs && !settings_.draw) add_draws(frontier);
      // (With a shard, every order below one of its executions is its own.)
      for (Candidate& branch : branches(e, next.prefix.size())) frontier.insert(std::move(branch));
      plant_faults(next, e, frontier);
    }
    x.total = known();
  }

  bool within_bound(const Candidate& c) const {
    return !settings_.max_switches || c.switches <= *settings_.max_switches;
  }

  // The first executions of `frontier` within the bound: what the other
  // runners can run ahead of their turn.
  std::vector<ExecutionKey> upcoming(const std::set<Candidate>& frontier) const {
    std::vector<ExecutionKey> keys;
    for (auto c = frontier.begin(); c != frontier.end() && keys.size() < 2 * kMaxRunners && within_bound(*c); ++c)
      keys.push_back(key_of(*c));
    return keys;
  }

  static ExecutionKey key_of(const Candidate& c) { return {c.prefix, c.fault, c.draw}; }

  // The first execution drew its inputs from w.rng(): the other draws'
  // first executions join the frontier (at 0 switches, after draw 0's).
  void add_draws(std::set<Candidate>& frontier) {
    Exploration& x = result_.exploration;
    x.draws = settings_.draws.value_or(kDefaultDraws);
    for (int draw = 1; draw < x.draws; ++draw) frontier.insert(Candidate{0, draw, {}, {}});
  }

  // Runs the reproducer once more, uncounted, so that the database holds the
  // state it leaves (RunSettings::keep).
  void replay_reproducer() {
    const StatementExecution e =
        runner_.run(reproducer_run_.prefix, reproducer_run_.fault, reproducer_run_.draw, deadline_);
    kept_state_ = std::string("the state the minimal reproducer leaves (replayed once more after the exploration") +
                  (e.violated() ? ")" : "; this replay violated nothing, so it may not show the violation)");
  }

  // The faults to try on the order of `e`, run for `run`, that this
  // exploration owns (all of them, but for a shard) and has not queued yet.
  void plant_faults(const Candidate& run, const StatementExecution& e, std::set<Candidate>& frontier) {
    if (run.fault || e.diverged) return;
    for (Candidate& faulted : fault_candidates(e, result_.knobs.faults))
      if ((!parts_ || parts_->owns(faulted.draw, faulted.prefix)) &&
          planted_.insert({faulted.draw, *faulted.fault, faulted.prefix}).second)
        frontier.insert(std::move(faulted));
  }

  // A shard's start (see statement/shard_parts.hpp): runs every draw's
  // first execution, judging those it owns and only learning the branches
  // of the others, and queues the branches and faults it owns. Branches
  // beyond --max-switches are no part (nothing below them is explored).
  void deal_parts(std::set<Candidate>& frontier) {
    Exploration& x = result_.exploration;
    for (int draw = 0; draw < x.draws; ++draw) {
      const Candidate first{0, draw, {}, {}};
      const StatementExecution e =
          parts_->owns_next_first() ? execute(first, true) : discover(first);
      if (draw == 0 && e.drew_inputs) x.draws = settings_.draws.value_or(kDefaultDraws);
      std::vector<int> choices;
      for (const ChoicePoint& point : e.points) choices.push_back(point.chosen);
      std::vector<Candidate> below = branches(e, 0);
      below.erase(std::remove_if(below.begin(), below.end(), [this](const Candidate& c) { return !within_bound(c); }),
                  below.end());
      std::vector<std::vector<int>> prefixes;
      for (const Candidate& branch : below) prefixes.push_back(branch.prefix);
      parts_->add_first(draw, std::move(choices), prefixes);
      for (Candidate& branch : below)
        if (parts_->owns(draw, branch.prefix)) frontier.insert(std::move(branch));
      plant_faults(first, e, frontier);
    }
    x.shard->parts = parts_->parts();
  }

  // Runs `candidate` only to learn what it discovers: neither judged nor
  // counted as explored (ShardShare::discovery).
  StatementExecution discover(const Candidate& candidate) {
    Exploration& x = result_.exploration;
    progress_.offer(ProgressUnit::schedules, x.explored, std::nullopt, x.violating);
    StatementExecution e = runner_.run(candidate.prefix, candidate.fault, candidate.draw, deadline_);
    x.inputs_drawn = x.inputs_drawn || e.drew_inputs;
    ++x.shard->discovery;
    return e;
  }

  StatementExecution execute(const Candidate& candidate, bool explored_in_order) {
    Exploration& x = result_.exploration;
    progress_.offer(ProgressUnit::schedules, x.explored, std::nullopt, x.violating);
    StatementExecution e = pool_.run(key_of(candidate));
    x.inputs_drawn = x.inputs_drawn || e.drew_inputs;
    ++explored_in_draw_[candidate.draw];
    ++x.explored;
    if (e.fault_injected) ++x.faulted;
    if (e.fault && !e.fault_injected) e.diverged = true;  // not the execution planned
    SwitchBound& bound = bound_of(explored_in_order ? candidate.switches : e.switches());
    ++bound.explored;
    ++bound.total;
    ScheduleResult schedule = schedule_of(e, invariants_);
    if (settings_.on_explored) settings_.on_explored(candidate.draw, schedule.schedule);
    if (e.diverged) {
      ++x.infeasible;
      ++bound.infeasible;
      return e;
    }
    tally(e);
    if (e.violated()) {
      if (!x.violating)
        x.first_violation_ms = std::chrono::duration<double, std::milli>(Clock::now() - started_).count();
      ++x.violating;
      ++bound.violated;
      // The least in the order of candidates, not the first found: a shard
      // finds its own in another order, and must name the same one.
      const Candidate key{e.switches(), candidate.draw, candidate.fault, candidate.prefix};
      if (!x.reproducer || key < reproducer_key_) {
        x.reproducer = schedule;
        reproducer_key_ = key;
        reproducer_run_ = {e.switches(), e.draw, candidate.fault, {}};
        for (const ChoicePoint& point : e.points) reproducer_run_.prefix.push_back(point.chosen);
      }
      if (x.violating_schedules.size() < kKeptSchedules) x.violating_schedules.push_back(std::move(schedule));
    } else if (x.held_schedules.size() < kKeptSchedules) {
      x.held_schedules.push_back(std::move(schedule));
    }
    return e;
  }

  void tally(const StatementExecution& e) {
    for (const Outcome& o : e.outcomes) ++result_.outcomes[o.kind];
    for (const ScheduledRequest& r : e.requests) {
      ++result_.attempts;
      if (!r.request.sqlstate.empty()) ++result_.sqlstates[r.request.sqlstate];
      if (first_code_error_.empty() && is_code_error(r.request.sqlstate)) first_code_error_ = code_error_of(e, r);
    }
    note_forgotten_commits(e);
    for (std::size_t i = 0; i < e.witnesses.size(); ++i)
      if (!e.witnesses[i].empty()) record_violation(result_.invariants[i], e.witnesses[i]);
    any_committed_ = any_committed_ || std::any_of(e.outcomes.begin(), e.outcomes.end(),
                                                   [](const Outcome& o) { return o.kind == OutcomeClass::committed; });
  }

  SwitchBound& bound_of(int switches) {
    auto& bounds = result_.exploration.bounds;
    for (auto& b : bounds)
      if (b.switches == switches) return b;
    bounds.push_back({switches, 0, 0, 0, 0});
    std::sort(bounds.begin(), bounds.end(),
              [](const SwitchBound& a, const SwitchBound& b) { return a.switches < b.switches; });
    for (auto& b : bounds)
      if (b.switches == switches) return b;
    return bounds.back();
  }

  // Where request `r` of `e` that failed with a code error came from.
  std::string code_error_of(const StatementExecution& e, const ScheduledRequest& r) const {
    const Outcome& outcome = e.outcomes[static_cast<std::size_t>(r.worker)];
    const std::string message =
        outcome.sqlstate == r.request.sqlstate ? " " + one_line(outcome.message, 300) : " (the code caught it)";
    return worker_name(r.worker) + "'s request " + step_name_of(r) + " (" + one_line(sql_text(r.request), 200) +
           ") in execution " + std::to_string(result_.exploration.explored) + ": " + r.request.sqlstate + message;
  }

  // A worker whose transaction() said it committed, while none of its
  // transactions committed and one rolled back, as the wire saw them (e.g.
  // a forgotten tx.commit(), whose pqxx::work rolled back when it was
  // destroyed). A request that ends a transaction block without error
  // commits it (a COMMIT), and so does one outside a block (autocommit); a
  // ROLLBACK, or the end of a failed block, rolls back.
  void note_forgotten_commits(const StatementExecution& e) {
    for (std::size_t w = 0; w < e.outcomes.size(); ++w) {
      if (e.outcomes[w].kind != OutcomeClass::committed) continue;
      char before = 'I';
      bool committed = false;
      const ScheduledRequest* rollback = nullptr;
      for (const ScheduledRequest& r : e.requests) {
        if (r.worker != static_cast<int>(w) || !r.request.executes || !r.request.completed) continue;
        const char after = r.request.status;
        if (is_rollback(r.request.sql) || (before == 'E' && after == 'I'))
          rollback = &r;
        else if (after == 'I' && r.request.sqlstate.empty())
          committed = true;
        before = after;
      }
      if (committed || !rollback) continue;
      if (forgotten_commits_++ == 0)
        first_forgotten_commit_ = worker_name(rollback->worker) + " in execution " +
                                  std::to_string(result_.exploration.explored) + ", whose transaction ended with " +
                                  one_line(sql_text(rollback->request), 100);
    }
  }

  // The evidence rule: a run that tested nothing is an error, not a pass;
  // nor is one whose code claimed commits it never made, or failed with
  // errors that concurrency never causes.
  void finish() {
    Exploration& x = result_.exploration;
    if (x.shard && x.shard->empty() && x.stopped.empty()) return;  // the other shards explore it all
    const long feasible = x.explored - x.infeasible;
    const std::string code_errors = code_errors_error(info_, result_.sqlstates, first_code_error_);
    if (forgotten_commits_ > 0)
      result_.error = forgotten_commits_error(forgotten_commits_, first_forgotten_commit_);
    else if (!code_errors.empty())
      result_.error = code_errors;
    else if (!x.stopped.empty() && x.violating == 0)
      result_.error = partial_exploration_error(x.stopped, "execution");
    else if (feasible == 0)
      result_.error = "no execution was feasible (" + std::to_string(x.explored) + " run): the run tested nothing";
    else if (!any_committed_ && !info_.expects_no_commits)
      result_.error = "no transaction committed in any of the " + std::to_string(feasible) +
                      " executions: the run tested nothing; fix the scenario, or set expects_no_commits in its info()";
  }

  const ScenarioInfo& info_;
  const RunSettings& settings_;
  ProgressReporter& progress_;
  ScenarioResult& result_;
  const std::vector<Invariant>& invariants_;
  StatementRunner& runner_;
  ExecutionPool& pool_;
  const Clock::time_point started_ = Clock::now();
  std::map<int, std::size_t> explored_in_draw_;  // executions run, per input draw
  Candidate reproducer_key_;                     // of the reproducer
  Candidate reproducer_run_;                     // the reproducer's every choice, to replay it
  std::string kept_state_;
  std::optional<ShardParts> parts_;              // with a shard: which parts are its own
  Clock::time_point deadline_;                   // of the run (the pool's runs have theirs)
  bool any_committed_ = false;
  std::string first_code_error_;  // where the first request that failed with a code error came from
  long forgotten_commits_ = 0;    // transactions said committed whose last request was a ROLLBACK
  std::string first_forgotten_commit_;
  std::set<std::tuple<int, PlannedFault, std::vector<int>>> planted_;  // faulted candidates already queued
};

}  // namespace

int preemptions_of(const ScheduleResult& schedule) {
  std::vector<const StepRecord*> chosen;
  for (const auto& step : schedule.steps) {
    const std::string kind = step.step.substr(step.step.find('.') + 1);
    if (kind != "begin" && kind != "prepare") chosen.push_back(&step);
  }
  int switches = 0;
  for (std::size_t i = 1; i < chosen.size(); ++i) {
    const StepRecord& last = *chosen[i - 1];
    if (chosen[i]->session == last.session || last.waited) continue;
    bool sends_again = false;
    for (std::size_t j = i + 1; j < chosen.size(); ++j) sends_again = sends_again || chosen[j]->session == last.session;
    switches += sends_again;
  }
  return switches;
}

namespace {

// A step name of a statement-level schedule: "w2.3" (worker 2's third
// chosen request), "w2.3!drop_reply" (with that fault), "w2.begin", "w2.prepare".
struct StepName {
  int worker = 0;  // from 0
  bool chosen = false;
  int ordinal = 0;  // chosen: from 1
  std::optional<FaultKind> fault;
};

bool all_digits(const std::string& text) {
  return !text.empty() && text.size() <= 9 &&
         std::all_of(text.begin(), text.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

StepName parse_step(const std::string& name, int workers) {
  const auto dot = name.find('.');
  const auto bang = name.find('!');
  const std::string who = name.substr(0, std::min(dot, name.size()));
  const std::string what = dot == std::string::npos
                               ? ""
                               : name.substr(dot + 1, bang == std::string::npos ? std::string::npos : bang - dot - 1);
  const std::string fault = bang == std::string::npos ? "" : name.substr(bang + 1);
  StepName step;
  bool ok = who.size() > 1 && who[0] == 'w' && all_digits(who.substr(1));
  if (ok) step.worker = std::stoi(who.substr(1)) - 1;
  ok = ok && step.worker >= 0 && step.worker < workers;
  step.chosen = all_digits(what);
  if (step.chosen) step.ordinal = std::stoi(what);
  ok = ok && ((step.chosen && step.ordinal >= 1) || what == "begin" || what == "prepare");
  if (ok && bang != std::string::npos) {
    ok = step.chosen && (fault == "drop_reply" || fault == "drop_before_send");
    step.fault = fault == "drop_reply" ? FaultKind::drop_reply : FaultKind::drop_before_send;
  }
  if (!ok)
    throw usage_error("--schedule step '" + name + "' names no request: give w<worker>.<n> (worker 1.." +
                      std::to_string(workers) +
                      "), optionally with !drop_reply or !drop_before_send, as the "
                      "reproducer prints them");
  return step;
}

std::string step_name(int worker, int ordinal) { return worker_name(worker) + "." + std::to_string(ordinal); }

std::string missing_request(const std::vector<std::string>& schedule, int workers, std::size_t choice) {
  std::size_t seen = 0;
  for (const std::string& name : schedule) {
    const StepName step = parse_step(name, workers);
    if (!step.chosen || seen++ != choice) continue;
    const std::string sent =
        step.ordinal == 1   ? "none"
        : step.ordinal == 2 ? "only " + step_name(step.worker, 1)
                            : "only " + step_name(step.worker, 1) + " to " + step_name(step.worker, step.ordinal - 1);
    return "--schedule step '" + name + "' names no request: worker " + worker_name(step.worker) + " sent " + sent +
           " in this execution";
  }
  return "--schedule names more requests than the execution had";
}

}  // namespace

std::vector<int> choices_of(const std::vector<std::string>& schedule, int workers) {
  std::vector<int> choices;
  std::vector<int> sent(static_cast<std::size_t>(workers), 0);
  for (const std::string& name : schedule) {
    const StepName step = parse_step(name, workers);
    if (!step.chosen) continue;
    int& last = sent[static_cast<std::size_t>(step.worker)];
    if (step.ordinal != last + 1)
      throw usage_error("--schedule step '" + name + "' is out of order: worker " + worker_name(step.worker) +
                        "'s next request there is " + step_name(step.worker, last + 1) +
                        " (give each worker's requests in their order, once each, as the reproducer prints them)");
    last = step.ordinal;
    choices.push_back(step.worker);
  }
  return choices;
}

std::optional<PlannedFault> planned_fault_of(const std::vector<std::string>& schedule, int workers) {
  std::optional<PlannedFault> planned;
  for (const std::string& name : schedule) {
    const StepName step = parse_step(name, workers);
    if (!step.fault) continue;
    if (planned) throw usage_error("--schedule names two faults ('" + name + "'): an execution injects one");
    planned = PlannedFault{step.worker, step.ordinal, FaultRule{*step.fault, FaultTarget::any, 1, {}}};
  }
  return planned;
}

namespace {

// A runner of the execution pool's own: another instance of the scenario,
// with a database and connections of its own.
class OwnRunner {
 public:
  OwnRunner(const ScenarioInfo& info, std::unique_ptr<Scenario> scenario, const Knobs& knobs,
            const RunSettings& settings, const std::string& dsn)
      : scenario_(std::move(scenario)),
        invariants_(scenario_->invariants()),
        database_(dsn, scenario_->schema(), info.name),
        runner_(info, *scenario_, invariants_, knobs, settings, database_.dsn(), *settings.statement_workers) {
    // Once, unrecorded, so that the statements its connections prepare on
    // first use are prepared: its executions then send the requests the
    // first runner's send after its first execution.
    runner_.run({}, std::nullopt, 0, Clock::now() + kWarmUpLimit);
  }
  StatementRunner& runner() { return runner_; }

 private:
  std::unique_ptr<Scenario> scenario_;
  std::vector<Invariant> invariants_;
  ScenarioDatabase database_;
  StatementRunner runner_;
};

}  // namespace

void explore_statements(const Server& server, const ScenarioInfo& info, Scenario& scenario, const RunSettings& settings,
                        ProgressReporter& progress, ScenarioResult& result, const ScenarioMaker& make_more) {
  const std::string dsn = server.dsn();
  const auto invariants = call_scenario(info, "invariants()", dsn, [&] { return scenario.invariants(); });
  result.invariants = invariant_entries(invariants);
  const std::string schema = call_scenario(info, "schema()", dsn, [&] { return scenario.schema(); });
  auto phase_start = Clock::now();
  ScenarioDatabase database(dsn, schema, info.name);
  std::string kept_state;  // RunSettings::keep: what the database holds, once the reproducer ran again
  {
    StatementRunner runner(info, scenario, invariants, result.knobs, settings, database.dsn(),
                           *settings.statement_workers);
    result.deadlock_timeout = runner.deadlock_timeout();
    result.phases.setup_ms = std::chrono::duration<double, std::milli>(Clock::now() - phase_start).count();
    const auto timeout =
        run_timeout(settings, kPlannedSecondsPerExecution * static_cast<double>(settings.max_schedules));
    const Clock::time_point deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout);
    ExecutionPool::RunnerMaker make_runner;
    if (make_more)
      make_runner = [&info, &settings, &make_more, knobs = result.knobs, dsn] {
        require_connection_room(dsn, *settings.statement_workers + 2);
        auto own = std::make_shared<OwnRunner>(info, make_more(), knobs, settings, dsn);
        return std::shared_ptr<StatementRunner>(own, &own->runner());
      };
    ExecutionPool pool(
        runner, [deadline](StatementRunner& r, const ExecutionKey& key) { return r.run(key.prefix, key.fault, key.draw, deadline); },
        make_runner, settings.schedules.empty() ? kMaxRunners : 1);
    phase_start = Clock::now();
    StatementExploration exploration(info, settings, progress, result, invariants, runner, pool);
    exploration.run(deadline);
    result.exploration.runners = pool.runners();
    kept_state = exploration.kept_state();
    result.phases.run_ms = std::chrono::duration<double, std::milli>(Clock::now() - phase_start).count();
    result.exploration.schedules_per_s =
        result.phases.run_ms > 0 ? result.exploration.explored / (result.phases.run_ms / 1000.0) : 0;
    phase_start = Clock::now();
  }
  if (!kept_state.empty()) {
    database.keep();
    result.kept = KeptDatabase{database.name(), kept_state};
  } else {
    database.drop();
  }
  result.phases.teardown_ms = std::chrono::duration<double, std::milli>(Clock::now() - phase_start).count();
}

}  // namespace pgrace::detail
