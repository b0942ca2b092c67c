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
#include "session_setup.hpp"

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

using Clock = std::chrono::steady_clock;

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
// step blocked on a lock blocks only that thread.
class SessionThread {
 public:
  explicit SessionThread(std::unique_ptr<pqxx::connection> connection)
      : connection_(std::move(connection)), pid_(connection_->backendpid()), thread_([this] { loop(); }) {}
  ~SessionThread() {
    {
      std::lock_guard lock(mutex_);
      quit_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }

  int pid() const { return pid_; }
  pqxx::connection& connection() { return *connection_; }

  // Starts `job` on the session's thread. The session must be idle.
  void submit(std::function<void()> job) {
    {
      std::lock_guard lock(mutex_);
      job_ = std::move(job);
      busy_ = true;
    }
    changed_.notify_all();
  }
  // Waits until the current job is done or `timeout` passes; true if idle.
  bool wait_idle(std::chrono::microseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return !busy_; });
  }
  bool busy() {
    std::lock_guard lock(mutex_);
    return busy_;
  }
  // Runs `job` here and waits for it (setup and teardown statements).
  void run(std::function<void()> job) {
    submit(std::move(job));
    wait_idle(std::chrono::hours(1));
  }

 private:
  void loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
      changed_.wait(lock, [&] { return quit_ || job_; });
      if (quit_) return;
      auto job = std::move(job_);
      job_ = nullptr;
      lock.unlock();
      job();
      lock.lock();
      busy_ = false;
      changed_.notify_all();
    }
  }

  std::unique_ptr<pqxx::connection> connection_;
  int pid_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::function<void()> job_;
  bool busy_ = false;
  bool quit_ = false;
  std::thread thread_;  // last: starts after everything it uses exists
};

struct StepRef {
  std::size_t session;
  const Step* step;
};

// What one schedule needs while it runs.
class ScheduleRun {
 public:
  ScheduleRun(std::vector<std::unique_ptr<SessionThread>>& sessions, const std::vector<Session>& definitions,
              pqxx::connection& control, std::chrono::milliseconds step_timeout)
      : sessions_(sessions), definitions_(definitions), control_(control), step_timeout_(step_timeout) {}

  ScheduleResult run(const std::vector<StepRef>& order, std::map<std::string, std::string>& observations) {
    ScheduleResult result;
    result.steps.resize(order.size());
    written_.assign(order.size(), {});
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
      const std::size_t s = order[i].session;
      if (running[s] >= 0 && !settle(s)) {
        result.feasible = false;
        result.note = "step " + order[i].step->name + " cannot start: session " + definitions_[s].name +
                      " is still waiting in step " + result.steps[running[s]].step;
        break;
      }
      collect(result, observations, running, -1);
      running[s] = static_cast<int>(i);
      dispatch(i, result.steps[i], *order[i].step, *sessions_[s], observations);
      await_or_detect_wait(result, i, s);
      collect(result, observations, running, static_cast<int>(i));
    }
    // Steps still waiting when the schedule is over: nothing left in it can
    // release them, so they are cancelled.
    for (std::size_t s = 0; s < sessions_.size(); ++s) {
      if (running[s] < 0) continue;
      if (!settle(s)) {
        cancel(s);
        result.note += (result.note.empty() ? "" : "; ") + std::string("step ") + result.steps[running[s]].step +
                       " was still waiting when the schedule ended: cancelled";
      }
    }
    collect(result, observations, running, -1);
    for (std::size_t s = 0; s < sessions_.size(); ++s) run_plain(s, "ROLLBACK");  // a warning if none is open
    return result;
  }

 private:
  void run_plain(std::size_t s, const std::string& sql) {
    std::exception_ptr failure;
    SessionThread& session = *sessions_[s];
    session.run([&] {
      try {
        pqxx::nontransaction tx(session.connection());
        tx.exec(sql);
      } catch (...) {
        failure = std::current_exception();
      }
    });
    if (failure) {
      Outcome o = classify(failure);
      if (o.kind == OutcomeClass::connection_lost) throw infrastructure_error("lost a session's connection: " + o.message);
      throw usage_error("session " + definitions_[s].name + " failed to run '" + sql + "': " + o.message);
    }
  }

  void dispatch(std::size_t i, StepRecord& record, const Step& step, SessionThread& session,
                const std::map<std::string, std::string>& observations) {
    // The job owns copies of what it reads; the record and written_[i] are
    // read back only after the session reports idle (its mutex orders the two).
    session.submit([&record, &step, &session, &written = written_[i], before = observations,
                    snapshot = observations]() mutable {
      std::optional<StepContext> context;  // outlives the try: its sent() is reported on error too
      try {
        if (step.action) {
          context.emplace(session.connection(), snapshot);
          step.action(*context);
          auto it = snapshot.find(step.name);
          record.observation = it == snapshot.end() ? "" : it->second;
        } else {
          pqxx::nontransaction tx(session.connection());
          record.observation = rows_text(tx.exec(step.sql));
        }
        record.outcome = "ok";
      } catch (...) {
        Outcome o = classify(std::current_exception());
        record.outcome = o.kind == OutcomeClass::cancelled ? "cancelled" : "error";
        record.sqlstate = o.sqlstate;
        record.message = o.message;
      }
      if (context) record.sql = context->sent();
      for (const auto& [key, value] : snapshot) {  // what the step observed, under any key
        auto it = before.find(key);
        if (it == before.end() || it->second != value) written[key] = value;
      }
    });
  }

  // Waits until step `i` completes, or is seen waiting for a lock held by
  // another session, or exceeds the step timeout (then it is cancelled).
  void await_or_detect_wait(ScheduleResult& result, std::size_t i, std::size_t s) {
    const auto deadline = Clock::now() + step_timeout_;
    auto wait = std::chrono::microseconds(200);
    for (;;) {
      if (sessions_[s]->wait_idle(wait)) return;
      if (is_blocked(s)) {
        result.steps[i].waited = true;
        return;
      }
      if (Clock::now() > deadline) {
        cancel(s);
        result.note += (result.note.empty() ? "" : "; ") + std::string("step ") + result.steps[i].step +
                       " neither completed nor waited on a lock within " +
                       std::to_string(step_timeout_.count()) + " ms: cancelled";
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
    const auto deadline = Clock::now() + step_timeout_;
    for (;;) {
      if (sessions_[s]->wait_idle(std::chrono::milliseconds(1))) return true;
      bool others_running = false;
      for (std::size_t o = 0; o < sessions_.size(); ++o) others_running |= o != s && sessions_[o]->busy();
      if (!others_running && is_blocked(s)) return sessions_[s]->wait_idle(std::chrono::milliseconds(0));
      if (Clock::now() > deadline) return false;
    }
  }

  void cancel(std::size_t s) {
    pqxx::nontransaction tx(control_);
    tx.exec_params("SELECT pg_cancel_backend($1)", std::to_string(sessions_[s]->pid()));
    if (!sessions_[s]->wait_idle(std::chrono::seconds(10)))
      throw infrastructure_error("a step of session " + definitions_[s].name + " ignored its cancellation");
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
      if (record.outcome == "error" && record.sqlstate.rfind("08", 0) == 0)
        throw infrastructure_error("lost the connection of session " + record.session + ": " + record.message);
      for (const auto& [key, value] : written_[index]) observations[key] = value;
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
  std::chrono::milliseconds step_timeout_;
  std::vector<std::map<std::string, std::string>> written_;  // per step: what a C++ step observed
  int completions_ = 0;
};

// The schedules to run, as steps.
std::vector<std::vector<StepRef>> resolve_schedules(const std::vector<Session>& sessions, Scenario& scenario,
                                                    const RunSettings& settings, std::uint64_t& total) {
  std::map<std::string, StepRef> by_name;
  std::vector<int> steps_per_session;
  for (std::size_t s = 0; s < sessions.size(); ++s) {
    steps_per_session.push_back(static_cast<int>(sessions[s].steps.size()));
    for (const auto& step : sessions[s].steps)
      if (!by_name.emplace(step.name, StepRef{s, &step}).second)
        throw usage_error("step name '" + step.name + "' is used twice: step names must be unique in a scenario");
  }
  auto listed = settings.schedules.empty() ? scenario.schedules() : settings.schedules;
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

}  // namespace

ScenarioResult run_interleaved(const Server& server, const ScenarioInfo& info, Scenario& scenario,
                               const std::vector<Session>& sessions, const RunSettings& settings) {
  const std::vector<Invariant> invariants = scenario.invariants();
  ScenarioResult result = new_result(info, settings, invariants);
  result.mode = "interleave";
  const auto schedules = resolve_schedules(sessions, scenario, settings, result.schedules_total);

  auto phase_start = Clock::now();
  ScenarioDatabase database(server.dsn(), scenario.schema(), info.name);
  const std::string dsn = database.dsn();

  std::set<std::string> violated_anywhere;
  std::vector<ScheduleResult> violating;
  {
    auto control = connect(dsn);
    std::vector<std::unique_ptr<SessionThread>> threads;
    for (const auto& session : sessions) {
      auto connection = connect(dsn);
      result.deadlock_timeout = prepare_session(*connection, result.knobs.isolation, "pgrace-" + session.name);
      threads.push_back(std::make_unique<SessionThread>(std::move(connection)));
    }
    result.phases.setup_ms = ms_between(phase_start, Clock::now());

    for (const auto& order : schedules) {
      phase_start = Clock::now();
      reset_tables(*control, scenario);
      result.phases.reset_ms += ms_between(phase_start, Clock::now());

      phase_start = Clock::now();
      std::map<std::string, std::string> observations;
      ScheduleRun run(threads, sessions, *control, settings.step_timeout);
      ScheduleResult schedule = run.run(order, observations);
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
        }
        ++counts[kind];
        ++result.outcomes[kind];
      }
      if (!schedule.feasible) {
        ++result.schedules_infeasible;
        continue;
      }
      phase_start = Clock::now();
      {
        pqxx::work tx(*control);
        CheckContext context{tx, counts, 0, &observations};
        for (std::size_t i = 0; i < invariants.size(); ++i) {
          std::vector<std::string> witnesses = check_invariant(invariants[i], context, settings.max_witnesses);
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
        for (auto& step : schedule.steps) step.message = scrub_secrets(step.message, server.dsn());
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
  result.throughput_tps = result.phases.run_ms > 0 ? result.repetitions / (result.phases.run_ms / 1000.0) : 0;
  result.phases.teardown_ms = ms_between(phase_start, Clock::now());
  return result;
}

}  // namespace detail
}  // namespace pgrace
