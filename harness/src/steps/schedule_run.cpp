#include "steps/schedule_run.hpp"

#include <algorithm>
#include <optional>
#include <pqxx/pqxx>
#include <thread>

#include "core/lock_wait.hpp"
#include "core/run_shared.hpp"
#include "core/stragglers.hpp"
#include "pgrace/error.hpp"
#include "steps/wait_for_graph.hpp"

namespace pgrace::detail {
namespace {

std::string rows_text(const pqxx::result& rows) {
  std::string text;
  for (const auto& row : rows) {
    if (!text.empty()) text += ';';
    for (pqxx::row::size_type i = 0; i < row.size(); ++i)
      text += (i ? "," : "") + std::string(row[i].is_null() ? "NULL" : row[i].c_str());
  }
  return text;
}

// What a step's job reports, shared with the session's thread.
struct StepSlot {
  StepOutcome outcome = StepOutcome::not_run;
  std::string sqlstate, message, observation;
  std::optional<std::string> sent;             // a C++ step: every statement it sent
  std::map<std::string, std::string> written;  // what a C++ step observed, under any key
};

// What one schedule needs while it runs.
class ScheduleRun {
 public:
  ScheduleRun(std::vector<std::unique_ptr<SessionThread>>& sessions, const std::vector<Session>& definitions,
              pqxx::connection& control, ScheduleBounds bounds)
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
      result.steps[i].outcome = StepOutcome::not_run;
    }
    for (std::size_t s = 0; s < sessions_.size(); ++s)
      if (!definitions_[s].setup_sql.empty()) run_plain(s, definitions_[s].setup_sql);

    std::vector<int> running(sessions_.size(), -1);  // the step each session is busy with
    for (std::size_t i = 0; i < order.size(); ++i) {
      if (Clock::now() >= bounds_.deadline) time_out();
      const std::size_t s = order[i].session;
      const int settled = running[s];  // reported first, as the tester reports the step it waited for
      if (settled >= 0 && !settle(s)) {
        result.feasible = false;
        result.note = "step " + order[i].step->name + " cannot start: session " + definitions_[s].name +
                      " is still waiting in step " + result.steps[settled].step;
        break;
      }
      collect(result, observations, running, settled);
      running[s] = static_cast<int>(i);
      let_deadlock_checks_run(s);
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
    for (std::size_t i = 1; i < result.steps.size(); ++i)
      result.switches += result.steps[i].session != result.steps[i - 1].session;
    // A warning if no transaction is open. Session-level advisory locks
    // outlive the transaction: released too, so that none reaches the next schedule.
    for (std::size_t s = 0; s < sessions_.size(); ++s) run_plain(s, "ROLLBACK; SELECT pg_advisory_unlock_all()");
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

  void dispatch(std::size_t i, const Step& step, std::size_t s,
                const std::map<std::string, std::string>& observations) {
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
        slot->outcome = StepOutcome::ok;
      } catch (...) {
        Outcome o = classify(std::current_exception());
        slot->outcome = o.kind == OutcomeClass::cancelled ? StepOutcome::cancelled : StepOutcome::error;
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

  // Before a step of session `next` is sent: sleeps until every other step
  // seen waiting has waited the deadlock_timeout (see ScheduleBounds).
  void let_deadlock_checks_run(std::size_t next) {
    if (bounds_.deadlock_timeout.count() <= 0) return;
    constexpr std::chrono::milliseconds kMargin{1};
    for (const auto& [s, seen] : waiting_seen_)
      if (s != next) std::this_thread::sleep_until(seen + bounds_.deadlock_timeout + kMargin);
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
        if (!result.steps[i].waited) result.steps[i].blocked_by = blockers_of(s);
        result.steps[i].waited = true;
        if (!waiting_seen_.count(s)) waiting_seen_[s] = Clock::now();
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

  std::vector<int> other_pids(std::size_t s) const {
    std::vector<int> others;
    for (std::size_t o = 0; o < sessions_.size(); ++o)
      if (o != s) others.push_back(sessions_[o]->pid());
    return others;
  }

  bool is_blocked(std::size_t s) { return detail::is_blocked(control_, sessions_[s]->pid(), other_pids(s)); }

  // The names of the sessions that session `s` waits for now.
  std::vector<std::string> blockers_of(std::size_t s) {
    std::vector<std::string> names;
    for (int pid : detail::blockers_of(control_, sessions_[s]->pid(), other_pids(s)))
      for (std::size_t o = 0; o < sessions_.size(); ++o)
        if (sessions_[o]->pid() == pid) names.push_back(definitions_[o].name);
    return names;
  }

  // Waits for session `s`'s running step to end. Returns false, without
  // waiting longer, once nothing can release it (see step_prospect()), or
  // after the step timeout.
  bool settle(std::size_t s) {
    const auto deadline = step_deadline();
    auto wait = std::chrono::microseconds(200);
    for (;;) {
      if (sessions_[s]->wait_idle(wait)) return true;
      if (step_prospect(wait_states(), s) == StepProspect::stuck)
        return sessions_[s]->wait_idle(std::chrono::milliseconds(0));
      if (Clock::now() > deadline) {
        if (Clock::now() >= bounds_.deadline) time_out();
        return false;
      }
      wait = std::min(wait * 2, std::chrono::microseconds(2000));
    }
  }

  // The sessions' wait-for graph: who is busy, and whom each busy session
  // waits for (locks, or a safe snapshot), as the server sees it now.
  std::vector<SessionWaits> wait_states() {
    std::vector<SessionWaits> states(sessions_.size());
    std::map<int, std::size_t> by_pid;
    std::string busy_pids = "{";
    for (std::size_t s = 0; s < sessions_.size(); ++s) {
      by_pid[sessions_[s]->pid()] = s;
      states[s].busy = sessions_[s]->busy();
      if (states[s].busy) busy_pids += (busy_pids.size() > 1 ? "," : "") + std::to_string(sessions_[s]->pid());
    }
    busy_pids += "}";
    pqxx::nontransaction tx(control_);
    const pqxx::result edges = tx.exec_params(
        "SELECT waiter, blocker FROM unnest($1::int[]) AS waiter, "
        "unnest(pg_blocking_pids(waiter) || pg_safe_snapshot_blocking_pids(waiter)) AS blocker",
        busy_pids);
    for (const auto& edge : edges) {
      SessionWaits& waiter = states.at(by_pid.at(edge[0].as<int>()));
      auto blocker = by_pid.find(edge[1].as<int>());
      if (blocker == by_pid.end())
        waiter.waits_outside = true;
      else
        waiter.waits_for.push_back(blocker->second);
    }
    return states;
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
  // completions as the isolation tester reports them: the step just run or
  // waited for (`current`, or -1) first, then earlier steps it released, in
  // schedule order. As the tester does, it first lets every other running
  // step either complete or be seen waiting again: a released step finishes
  // before the next step of the schedule starts.
  void collect(ScheduleResult& result, std::map<std::string, std::string>& observations, std::vector<int>& running,
               int current) {
    for (std::size_t s = 0; s < sessions_.size(); ++s)
      if (running[s] >= 0 && running[s] != current) await_or_detect_wait(result, running[s], s);
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
      if (record.outcome == StepOutcome::error && classify_sqlstate(record.sqlstate) == OutcomeClass::connection_lost)
        throw infrastructure_error("lost the connection of session " + record.session + ": " + record.message);
      for (const auto& [key, value] : slot.written) observations[key] = value;
      observations[record.step] = record.outcome == StepOutcome::ok ? record.observation : "error:" + record.sqlstate;
      record.completed_as = completions_++;
      running[s] = -1;
      waiting_seen_.erase(s);
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
  ScheduleBounds bounds_;
  std::vector<std::shared_ptr<StepSlot>> slots_;           // per step of the schedule
  std::map<std::size_t, std::string> current_;             // per session: what it was last given to run
  std::map<std::size_t, Clock::time_point> waiting_seen_;  // per session: when its running step was seen waiting
  int completions_ = 0;
};

}  // namespace

ScheduleResult run_schedule(std::vector<std::unique_ptr<SessionThread>>& sessions,
                            const std::vector<Session>& definitions, pqxx::connection& control,
                            const ScheduleBounds& bounds, const std::vector<StepRef>& order,
                            std::map<std::string, std::string>& observations) {
  ScheduleRun run(sessions, definitions, control, bounds);
  return run.run(order, observations);
}

}  // namespace pgrace::detail
