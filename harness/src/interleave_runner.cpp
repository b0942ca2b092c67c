#include "interleave_runner.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <pqxx/pqxx>
#include <thread>

#include "database.hpp"
#include "pgrace/connection.hpp"
#include "pgrace/dsn.hpp"
#include "pgrace/error.hpp"
#include "pgrace/schedule.hpp"
#include "run_shared.hpp"
#include "session_setup.hpp"
#include "stragglers.hpp"

namespace pgrace {

pqxx::result StepContext::exec(const std::string& sql) {
  sent_ += (sent_.empty() ? "" : "; ") + sql;
  pqxx::nontransaction tx(connection_);
  return tx.exec(sql);
}

const std::string& StepContext::observed(const std::string& step) const {
  auto it = observations_.find(step);
  if (it == observations_.end()) throw std::logic_error("step " + step + " has not run (yet)");
  return it->second;
}

namespace detail {
namespace {

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

std::string rows_text(const pqxx::result& rows) {
  std::string text;
  for (const auto& row : rows) {
    if (!text.empty()) text += ';';
    for (pqxx::row::size_type i = 0; i < row.size(); ++i)
      text += (i ? "," : "") + std::string(row[i].is_null() ? "NULL" : row[i].c_str());
  }
  return text;
}

// One session: its connection and a thread that runs its steps, so that a
// step blocked on a lock blocks only that thread. The thread shares the
// connection and its queue, so that it can be left running (abandoned) when
// a step is stuck in the scenario's C++ code.
class SessionThread {
 public:
  using Job = std::function<void(pqxx::connection&)>;

  explicit SessionThread(std::unique_ptr<pqxx::connection> connection)
      : state_(std::make_shared<State>(std::move(connection))),
        pid_(state_->connection->backendpid()),
        thread_([state = state_] { loop(*state); }) {}
  // Ends the thread once idle; one that stays busy (abandoned, or stuck
  // past a second) is detached and ends after its job.
  ~SessionThread() {
    {
      std::lock_guard lock(state_->mutex);
      state_->quit = true;
    }
    state_->changed.notify_all();
    if (abandoned_ || !wait_idle(std::chrono::seconds(1))) thread_.detach();
    else thread_.join();
  }

  int pid() const { return pid_; }

  // Starts `job` on the session's thread. The session must be idle. The job
  // must own what it uses: it may outlive the schedule if it never returns.
  void submit(Job job) {
    {
      std::lock_guard lock(state_->mutex);
      state_->job = std::move(job);
      state_->busy = true;
    }
    state_->changed.notify_all();
  }
  // Waits until the current job is done or `timeout` passes; true if idle.
  bool wait_idle(std::chrono::microseconds timeout) {
    std::unique_lock lock(state_->mutex);
    return state_->changed.wait_for(lock, timeout, [&] { return !state_->busy; });
  }
  bool wait_idle_until(Clock::time_point deadline) {
    std::unique_lock lock(state_->mutex);
    return state_->changed.wait_until(lock, deadline, [&] { return !state_->busy; });
  }
  bool busy() {
    std::lock_guard lock(state_->mutex);
    return state_->busy;
  }
  // Leaves the thread to its current job; the session is no longer usable.
  void abandon() { abandoned_ = true; }
  bool abandoned() const { return abandoned_; }

 private:
  struct State {
    explicit State(std::unique_ptr<pqxx::connection> c) : connection(std::move(c)) {}
    std::unique_ptr<pqxx::connection> connection;
    std::mutex mutex;
    std::condition_variable changed;
    Job job;
    bool busy = false;
    bool quit = false;
  };

  static void loop(State& state) {
    std::unique_lock lock(state.mutex);
    for (;;) {
      state.changed.wait(lock, [&] { return state.quit || state.job; });
      if (state.quit && !state.job) return;
      auto job = std::move(state.job);
      state.job = nullptr;
      lock.unlock();
      job(*state.connection);
      lock.lock();
      state.busy = false;
      state.changed.notify_all();
    }
  }

  std::shared_ptr<State> state_;
  int pid_;
  std::thread thread_;  // after state_: starts once it exists
  bool abandoned_ = false;
};

// What a step's job reports, shared with the session's thread.
struct StepSlot {
  std::string outcome = "not_run";
  std::string sqlstate, message, observation;
  std::optional<std::string> sent;           // a C++ step: every statement it sent
  std::map<std::string, std::string> written;  // what a C++ step observed, under any key
};

struct StepRef {
  std::size_t session;
  const Step* step;
};

// How a schedule's run is bounded.
struct Bounds {
  std::chrono::milliseconds step_timeout;  // per step: neither done nor waiting -> cancelled
  Clock::time_point deadline;              // the whole run's (--timeout)
  std::string timed_out;                   // "timed out after 60 s (--timeout) in schedule 3 of 70"
};

// What one schedule needs while it runs.
class ScheduleRun {
 public:
  ScheduleRun(std::vector<std::unique_ptr<SessionThread>>& sessions, const std::vector<Session>& definitions,
              pqxx::connection& control, Bounds bounds)
      : sessions_(sessions), definitions_(definitions), control_(control), bounds_(std::move(bounds)) {}
  // Ends whatever is still running when the schedule is abandoned by an
  // exception, so that every session is idle (or left behind) afterwards.
  ~ScheduleRun() {
    std::vector<Straggler> busy;
    for (std::size_t s = 0; s < sessions_.size(); ++s)
      if (!sessions_[s]->abandoned() && sessions_[s]->busy()) busy.push_back(straggler(s, "running " + current_[s]));
    if (!busy.empty()) end_stragglers(&control_, busy, kGrace);
  }
  ScheduleRun(const ScheduleRun&) = delete;
  ScheduleRun& operator=(const ScheduleRun&) = delete;

  ScheduleResult run(const std::vector<StepRef>& order, std::map<std::string, std::string>& observations) {
    ScheduleResult result;
    result.steps.resize(order.size());
    slots_.assign(order.size(), nullptr);
    for (std::size_t i = 0; i < order.size(); ++i) {
      result.schedule.push_back(order[i].step->name);
      result.steps[i].step = order[i].step->name;
      result.steps[i].session = definitions_[order[i].session].name;
      result.steps[i].sql = order[i].step->sql;
      result.steps[i].outcome = "not_run";
    }
    for (std::size_t s = 0; s < sessions_.size(); ++s)
      if (!definitions_[s].setup_sql.empty()) run_plain(s, definitions_[s].setup_sql);

    std::vector<int> running(sessions_.size(), -1);  // the step each session is busy with
    for (std::size_t i = 0; i < order.size(); ++i) {
      if (Clock::now() >= bounds_.deadline) time_out();
      const std::size_t s = order[i].session;
      if (running[s] >= 0 && !settle(s)) {
        result.feasible = false;
        result.note = "step " + order[i].step->name + " cannot start: session " + definitions_[s].name +
                      " is still waiting in step " + result.steps[running[s]].step;
        break;
      }
      collect(result, observations, running, -1);
      running[s] = static_cast<int>(i);
      dispatch(i, *order[i].step, s, observations);
      await_or_detect_wait(result, i, s);
      collect(result, observations, running, static_cast<int>(i));
    }
    // Steps still waiting when the schedule is over: nothing left in it can
    // release them, so they are cancelled.
    for (std::size_t s = 0; s < sessions_.size(); ++s) {
      if (running[s] < 0) continue;
      if (!settle(s)) {
        cancel(s, "step " + result.steps[running[s]].step, "was still waiting when the schedule ended");
        result.note += (result.note.empty() ? "" : "; ") + std::string("step ") + result.steps[running[s]].step +
                       " was still waiting when the schedule ended: cancelled";
      }
    }
    collect(result, observations, running, -1);
    for (std::size_t s = 0; s < sessions_.size(); ++s) run_plain(s, "ROLLBACK");  // a warning if none is open
    return result;
  }

 private:
  // How long a session whose backend was cancelled or terminated gets to return.
  static constexpr std::chrono::seconds kGrace{1};

  // The end of the current wait: the step timeout or the run's deadline.
  Clock::time_point step_deadline() const { return std::min(Clock::now() + bounds_.step_timeout, bounds_.deadline); }

  Straggler straggler(std::size_t s, const std::string& doing) {
    SessionThread& session = *sessions_[s];
    return {"session " + definitions_[s].name + " (" + doing + ")", session.pid(),
            [&session](Clock::time_point d) { return session.wait_idle_until(d); }, [&session] { session.abandon(); }};
  }

  // The run's deadline passed: ends every busy session and the run.
  [[noreturn]] void time_out() {
    std::vector<Straggler> busy;
    for (std::size_t s = 0; s < sessions_.size(); ++s)
      if (sessions_[s]->busy()) busy.push_back(straggler(s, "running " + current_[s]));
    std::string text = bounds_.timed_out;
    if (!busy.empty()) text += ": " + end_stragglers(&control_, busy, kGrace);
    throw ScenarioFailure(text);
  }

  // Runs `sql` on session `s` outside any step (setup, ROLLBACK), within the
  // step timeout.
  void run_plain(std::size_t s, const std::string& sql) {
    auto failure = std::make_shared<std::exception_ptr>();
    current_[s] = "'" + sql + "'";
    sessions_[s]->submit([failure, sql](pqxx::connection& connection) {
      try {
        pqxx::nontransaction tx(connection);
        tx.exec(sql);
      } catch (...) {
        *failure = std::current_exception();
      }
    });
    if (!sessions_[s]->wait_idle_until(step_deadline())) {
      if (Clock::now() >= bounds_.deadline) time_out();
      cancel(s, "'" + sql + "'", "did not end within the step timeout");
    }
    if (*failure) {
      Outcome o = classify(*failure);
      if (o.kind == OutcomeClass::connection_lost)
        throw infrastructure_error("lost the connection of session " + definitions_[s].name + ": " + o.message);
      throw usage_error("session " + definitions_[s].name + " failed to run '" + sql + "': " + o.message);
    }
  }

  void dispatch(std::size_t i, const Step& step, std::size_t s, const std::map<std::string, std::string>& observations) {
    // The job owns copies of what it uses and reports into its slot, read
    // back only after the session reports idle (its mutex orders the two).
    auto slot = std::make_shared<StepSlot>();
    slots_[i] = slot;
    current_[s] = "step " + step.name;
    sessions_[s]->submit([slot, step, before = observations](pqxx::connection& connection) {
      auto snapshot = before;
      std::optional<StepContext> context;  // outlives the try: its sent() is reported on error too
      try {
        if (step.action) {
          context.emplace(connection, snapshot);
          step.action(*context);
          auto it = snapshot.find(step.name);
          slot->observation = it == snapshot.end() ? "" : it->second;
        } else {
          pqxx::nontransaction tx(connection);
          slot->observation = rows_text(tx.exec(step.sql));
        }
        slot->outcome = "ok";
      } catch (...) {
        Outcome o = classify(std::current_exception());
        slot->outcome = o.kind == OutcomeClass::cancelled ? "cancelled" : "error";
        slot->sqlstate = o.sqlstate;
        slot->message = o.message;
      }
      if (context) slot->sent = context->sent();
      for (const auto& [key, value] : snapshot) {  // what the step observed, under any key
        auto it = before.find(key);
        if (it == before.end() || it->second != value) slot->written[key] = value;
      }
    });
  }

  // Waits until step `i` completes, or is seen waiting for a lock held by
  // another session, or exceeds the step timeout (then it is cancelled), or
  // the run's deadline passes.
  void await_or_detect_wait(ScheduleResult& result, std::size_t i, std::size_t s) {
    const auto deadline = step_deadline();
    auto wait = std::chrono::microseconds(200);
    for (;;) {
      if (sessions_[s]->wait_idle(wait)) return;
      if (is_blocked(s)) {
        result.steps[i].waited = true;
        return;
      }
      if (Clock::now() > deadline) {
        if (Clock::now() >= bounds_.deadline) time_out();
        cancel(s, "step " + result.steps[i].step, "neither completed nor waited on a lock within the step timeout");
        result.note += (result.note.empty() ? "" : "; ") + std::string("step ") + result.steps[i].step +
                       " neither completed nor waited on a lock within " +
                       std::to_string(bounds_.step_timeout.count()) + " ms: cancelled";
        return;
      }
      wait = std::min(wait * 2, std::chrono::microseconds(2000));
    }
  }

  bool is_blocked(std::size_t s) {
    std::string others = "{";
    for (std::size_t o = 0; o < sessions_.size(); ++o)
      if (o != s) others += (others.size() > 1 ? "," : "") + std::to_string(sessions_[o]->pid());
    others += "}";
    // The pid as text, here and in cancel(): libpqxx 7's params::append<int>
    // trips GCC 12's -Wmaybe-uninitialized (a false positive, libpqxx#1024).
    const std::string pid = std::to_string(sessions_[s]->pid());
    pqxx::nontransaction tx(control_);
    return tx.exec_params("SELECT pg_isolation_test_session_is_blocked($1, $2::int[])", pid, others)[0][0].as<bool>();
  }

  // Waits for session `s`'s running step to end. Returns false, without
  // waiting longer, once it is blocked and no other session is running
  // anything that could release it (only idle sessions hold its locks), or
  // after the step timeout.
  bool settle(std::size_t s) {
    const auto deadline = step_deadline();
    for (;;) {
      if (sessions_[s]->wait_idle(std::chrono::milliseconds(1))) return true;
      bool others_running = false;
      for (std::size_t o = 0; o < sessions_.size(); ++o) others_running |= o != s && sessions_[o]->busy();
      if (!others_running && is_blocked(s)) return sessions_[s]->wait_idle(std::chrono::milliseconds(0));
      if (Clock::now() > deadline) {
        if (Clock::now() >= bounds_.deadline) time_out();
        return false;
      }
    }
  }

  // Cancels what session `s` runs (`what`, e.g. "step w1"). If it ignores
  // the cancellation, its backend is terminated and, if it still does not
  // return (stuck in C++), it is left running; either way the run ends with
  // verdict "error" saying so.
  void cancel(std::size_t s, const std::string& what, const std::string& why) {
    {
      pqxx::nontransaction tx(control_);
      tx.exec_params("SELECT pg_cancel_backend($1)", std::to_string(sessions_[s]->pid()));
    }
    if (sessions_[s]->wait_idle(kGrace)) return;
    const std::string text = end_stragglers(&control_, {straggler(s, "running " + what)}, kGrace);
    throw ScenarioFailure(what + " of session " + definitions_[s].name + " " + why +
                          " and ignored its cancellation: " + text);
  }

  // Folds the finished steps into the observations and numbers their
  // completions as the isolation tester reports them: the step just run
  // (`current`, or -1) first, then earlier steps it released, in schedule order.
  void collect(ScheduleResult& result, std::map<std::string, std::string>& observations, std::vector<int>& running,
               int current) {
    std::vector<std::pair<int, std::size_t>> finished;  // (step index, session)
    for (std::size_t s = 0; s < sessions_.size(); ++s)
      if (running[s] >= 0 && !sessions_[s]->busy()) finished.emplace_back(running[s], s);
    std::sort(finished.begin(), finished.end(), [current](const auto& a, const auto& b) {
      return (a.first == current) != (b.first == current) ? a.first == current : a.first < b.first;
    });
    for (const auto& [index, s] : finished) {
      StepRecord& record = result.steps[index];
      const StepSlot& slot = *slots_[index];
      record.outcome = slot.outcome;
      record.sqlstate = slot.sqlstate;
      record.message = slot.message;
      record.observation = slot.observation;
      if (slot.sent) record.sql = *slot.sent;
      if (record.outcome == "error" && classify_sqlstate(record.sqlstate) == OutcomeClass::connection_lost)
        throw infrastructure_error("lost the connection of session " + record.session + ": " + record.message);
      for (const auto& [key, value] : slot.written) observations[key] = value;
      observations[record.step] = record.outcome == "ok" ? record.observation : "error:" + record.sqlstate;
      record.completed_as = completions_++;
      running[s] = -1;
    }
    std::vector<const StepRecord*> done;
    for (const auto& r : result.steps)
      if (r.completed_as >= 0) done.push_back(&r);
    std::sort(done.begin(), done.end(), [](auto* a, auto* b) { return a->completed_as < b->completed_as; });
    result.completion_order.clear();
    for (auto* r : done) result.completion_order.push_back(r->step);
  }

  std::vector<std::unique_ptr<SessionThread>>& sessions_;
  const std::vector<Session>& definitions_;
  pqxx::connection& control_;
  Bounds bounds_;
  std::vector<std::shared_ptr<StepSlot>> slots_;  // per step of the schedule
  std::map<std::size_t, std::string> current_;   // per session: what it was last given to run
  int completions_ = 0;
};

// The schedules to run, as steps.
std::vector<std::vector<StepRef>> resolve_schedules(const std::vector<Session>& sessions, Scenario& scenario,
                                                    const ScenarioInfo& info, const RunSettings& settings,
                                                    std::uint64_t& total, const std::string& dsn) {
  std::map<std::string, StepRef> by_name;
  std::vector<int> steps_per_session;
  for (std::size_t s = 0; s < sessions.size(); ++s) {
    steps_per_session.push_back(static_cast<int>(sessions[s].steps.size()));
    for (const auto& step : sessions[s].steps)
      if (!by_name.emplace(step.name, StepRef{s, &step}).second)
        throw usage_error("step name '" + step.name + "' is used twice: step names must be unique in a scenario");
  }
  auto listed = settings.schedules.empty()
                    ? call_scenario(info, "schedules()", dsn, [&] { return scenario.schedules(); })
                    : settings.schedules;
  std::vector<std::vector<StepRef>> out;
  if (!listed.empty()) {
    total = listed.size();
    for (const auto& names : listed) {
      std::vector<StepRef> schedule;
      std::vector<std::size_t> next(sessions.size(), 0);  // position in each session's steps
      for (const auto& name : names) {
        auto it = by_name.find(name);
        if (it == by_name.end()) {
          std::string known;
          for (const auto& [n, ref] : by_name) known += (known.empty() ? "" : " ") + n;
          throw usage_error("schedule names unknown step '" + name + "' (steps: " + known + ")");
        }
        const auto& steps = sessions[it->second.session].steps;
        std::size_t at = next[it->second.session];
        while (at < steps.size() && &steps[at] != it->second.step) ++at;
        if (at == steps.size())
          throw usage_error("schedule runs step '" + name + "' after '" + steps[next[it->second.session] - 1].name +
                            "', but session " + sessions[it->second.session].name +
                            " declares it earlier: a session's steps must appear in their declared order, once each");
        next[it->second.session] = at + 1;
        schedule.push_back(it->second);
      }
      out.push_back(schedule);
    }
    return out;
  }
  total = count_interleavings(steps_per_session);
  for (const auto& order : interleavings(steps_per_session, settings.max_schedules, settings.seed)) {
    std::vector<std::size_t> next(sessions.size(), 0);
    std::vector<StepRef> schedule;
    for (int s : order) schedule.push_back({static_cast<std::size_t>(s), &sessions[s].steps[next[s]++]});
    out.push_back(schedule);
  }
  return out;
}

bool shorter_then_lexicographic(const ScheduleResult& a, const ScheduleResult& b) {
  if (a.schedule.size() != b.schedule.size()) return a.schedule.size() < b.schedule.size();
  return a.schedule < b.schedule;
}

// Why a run whose schedules all ran proves nothing, or "" (see
// ScenarioInfo::expects_no_commits).
std::string lack_of_evidence(const ScenarioInfo& info, const ScenarioResult& result, const std::string& first_note,
                             const std::string& first_failure, bool any_step_ok) {
  const long feasible = result.repetitions - result.schedules_infeasible;
  if (result.repetitions > 0 && feasible == 0)
    return "no schedule was feasible (" + std::to_string(result.repetitions) + " explored; the first: " + first_note +
           "): the run tested nothing; fix the scenario's schedules";
  if (feasible > 0 && !any_step_ok && !info.expects_no_commits)
    return "no step succeeded in any of the " + std::to_string(feasible) + " feasible schedule(s) (first failure: " +
           first_failure + "): the run tested nothing; fix the scenario, or set expects_no_commits in its info() "
           "if that is intended";
  return "";
}

double planned_seconds(const std::vector<std::vector<StepRef>>& schedules) {
  constexpr double kPlannedSecondsPerStep = 0.1;
  double steps = 0;
  for (const auto& schedule : schedules) steps += static_cast<double>(schedule.size());
  return kPlannedSecondsPerStep * steps;
}

}  // namespace

void run_interleaved(const Server& server, const ScenarioInfo& info, Scenario& scenario,
                     const std::vector<Session>& sessions, const RunSettings& settings, ProgressReporter& progress,
                     ScenarioResult& result) {
  const std::string& server_dsn = server.dsn();
  result.mode = "interleave";
  const std::vector<Invariant> invariants =
      call_scenario(info, "invariants()", server_dsn, [&] { return scenario.invariants(); });
  result.invariants = invariant_entries(invariants);
  const auto schedules = resolve_schedules(sessions, scenario, info, settings, result.schedules_total, server_dsn);
  const std::string schema = call_scenario(info, "schema()", server_dsn, [&] { return scenario.schema(); });

  auto phase_start = Clock::now();
  ScenarioDatabase database(server_dsn, schema, info.name);
  const std::string dsn = database.dsn();

  std::set<std::string> violated_anywhere;
  std::vector<ScheduleResult> violating;
  std::string first_note, first_failure;  // for a run without evidence
  bool any_step_ok = false;
  {
    auto control = connect(dsn);
    prepare_session(*control, Isolation::read_committed, "pgrace-control", settings.statement_timeout_s);
    std::vector<std::unique_ptr<SessionThread>> threads;
    for (const auto& session : sessions) {
      auto connection = connect(dsn);
      result.deadlock_timeout = prepare_session(*connection, result.knobs.isolation, "pgrace-" + session.name,
                                                settings.statement_timeout_s);
      threads.push_back(std::make_unique<SessionThread>(std::move(connection)));
    }
    result.phases.setup_ms = ms_between(phase_start, Clock::now());
    // The run's time bound counts from here: the scenario's own work.
    const auto timeout = run_timeout(settings, planned_seconds(schedules));
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout);

    for (std::size_t k = 0; k < schedules.size(); ++k) {
      progress.offer(ProgressUnit::schedules, static_cast<long>(k), static_cast<long>(schedules.size()),
                     result.violating_runs);
      const std::string where = "schedule " + std::to_string(k + 1) + " of " + std::to_string(schedules.size());
      phase_start = Clock::now();
      reset_state(*control, scenario, info, server_dsn);
      result.phases.reset_ms += ms_between(phase_start, Clock::now());

      phase_start = Clock::now();
      std::map<std::string, std::string> observations;
      ScheduleRun run(threads, sessions, *control,
                      {settings.step_timeout, deadline, "timed out after " + timeout_text(settings, timeout) + " in " + where});
      ScheduleResult schedule = run.run(schedules[k], observations);
      result.phases.run_ms += ms_between(phase_start, Clock::now());
      ++result.repetitions;

      std::map<OutcomeClass, long> counts;
      for (const auto& step : schedule.steps) {
        if (step.outcome == "not_run") continue;
        ++result.attempts;
        OutcomeClass kind = OutcomeClass::committed;
        if (step.outcome != "ok") {  // no SQLSTATE: the C++ step itself threw
          kind = step.sqlstate.empty() ? OutcomeClass::scenario_error : classify_sqlstate(step.sqlstate);
          ++result.sqlstates[step.sqlstate.empty() ? to_string(kind) : step.sqlstate];
          if (first_failure.empty())
            first_failure = "step " + step.step + ": " + (step.sqlstate.empty() ? "" : step.sqlstate + " ") +
                            pgrace::one_line(step.message, 200);
        }
        ++counts[kind];
        ++result.outcomes[kind];
      }
      if (!schedule.feasible) {
        ++result.schedules_infeasible;
        if (first_note.empty()) first_note = schedule.note;
        continue;
      }
      for (const auto& step : schedule.steps) any_step_ok = any_step_ok || step.outcome == "ok";
      phase_start = Clock::now();
      {
        pqxx::work tx(*control);
        CheckContext context{tx, counts, 0, &observations};
        for (std::size_t i = 0; i < invariants.size(); ++i) {
          std::vector<std::string> witnesses =
              check_or_fail(invariants[i], context, settings.max_witnesses, "after " + where);
          if (witnesses.empty()) continue;
          schedule.violated.push_back(invariants[i].name);
          violated_anywhere.insert(invariants[i].name);
          InvariantResult& out = result.invariants[i];
          if (out.held) out.witnesses = witnesses;
          out.held = false;
          ++out.violated_runs;
        }
      }
      result.phases.check_ms += ms_between(phase_start, Clock::now());
      if (!schedule.violated.empty()) {
        for (auto& step : schedule.steps) step.message = scrub_secrets(step.message, server_dsn);
        ++result.violating_runs;
        violating.push_back(std::move(schedule));
      }
    }
    phase_start = Clock::now();
  }
  std::sort(violating.begin(), violating.end(), shorter_then_lexicographic);
  if (violating.size() > 20) violating.resize(20);
  result.violating_schedules = std::move(violating);
  result.verdict = result.violating_runs > 0 ? "violated" : "held";
  result.matched = violated_anywhere == info.expectation.violated;
  result.error = scrub_secrets(lack_of_evidence(info, result, first_note, first_failure, any_step_ok), server_dsn);
  result.throughput_tps = result.phases.run_ms > 0 ? result.repetitions / (result.phases.run_ms / 1000.0) : 0;
  result.phases.teardown_ms = ms_between(phase_start, Clock::now());
}

}  // namespace detail
}  // namespace pgrace
