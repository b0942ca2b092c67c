#include "statement/execution.hpp"

#include <algorithm>
#include <atomic>
#include <pqxx/pqxx>
#include <thread>

#include "core/lock_wait.hpp"
#include "core/run_shared.hpp"
#include "core/session_setup.hpp"
#include "core/stragglers.hpp"
#include "core/watched_thread.hpp"
#include "faults/rules.hpp"
#include "pgrace/connection.hpp"
#include "pgrace/error.hpp"
#include "server/connection_errors.hpp"
#include "statement/input_draw.hpp"
#include "steps/schedule_run.hpp"  // kMaxDeadlockSettle
#include "wire/proxy.hpp"

namespace pgrace::detail {
namespace {

// The deadlock_timeout asked for on the workers' sessions: short, so that
// every wait has had its deadlock check before the next request goes.
constexpr std::chrono::milliseconds kDeadlockTimeout{2};
constexpr std::chrono::seconds kGrace{1};

// What a worker's transaction() gets: its proxied connection, its
// generator for the execution's input draw, iteration 0. No pools: their
// connections would bypass the gate.
class StatementWorker final : public Worker {
 public:
  StatementWorker(WorkerConnection& connection, std::mt19937_64 generator, int index, std::atomic<bool>& drew)
      : connection_(connection), index_(index), rng_(generator), drew_(drew) {}
  pqxx::connection& connection() override { return connection_.get(); }
  SharedPool& shared_pool() override { throw std::logic_error("shared_pool() is not offered at statement level"); }
  Pool& pool() override { throw std::logic_error("pool() is not offered at statement level"); }
  std::mt19937_64& rng() override {
    drew_ = true;
    return rng_;
  }
  int index() const override { return index_; }
  long iteration() const override { return 0; }
  int attempt() const override { return attempt_; }
  int attempt_ = 0;
  WorkerConnection& connection_;

 private:
  int index_;
  std::mt19937_64 rng_;
  std::atomic<bool>& drew_;
};

// Runs the scenario's transaction until it ends for good (retrying
// 40001/40P01 up to `max_retries` times, without backoff: the schedule, not
// time, decides the order).
Outcome run_transaction(Scenario& scenario, StatementWorker& worker, int max_retries) {
  worker.connection_.forget_drop();
  for (worker.attempt_ = 0;; ++worker.attempt_) {
    Outcome outcome{OutcomeClass::committed, "", ""};
    try {
      if (scenario.transaction(worker) == TxResult::rejected) outcome.kind = OutcomeClass::rejected;
    } catch (...) {
      outcome = worker.connection_.judged(classify(std::current_exception()));
    }
    if (!is_retryable(outcome.kind) || worker.attempt_ >= max_retries) return outcome;
  }
}

}  // namespace

int StatementExecution::switches(std::size_t choices) const {
  int n = 0;
  for (std::size_t i = 1; i < points.size() && i < choices; ++i) {
    const int last = points[i - 1].chosen;
    const auto& enabled = points[i].enabled;
    n += points[i].chosen != last && std::find(enabled.begin(), enabled.end(), last) != enabled.end();
  }
  return n;
}

bool StatementExecution::violated() const {
  return std::any_of(witnesses.begin(), witnesses.end(), [](const auto& w) { return !w.empty(); });
}

struct StatementRunner::Impl {
  const ScenarioInfo& info;
  Scenario& scenario;
  const std::vector<Invariant>& invariants;
  const Knobs knobs;
  const RunSettings& settings;
  const std::string dsn;
  // Shared with the workers' threads and connections, which a thread left
  // running past the deadline keeps using after the runner is gone.
  const std::shared_ptr<RequestScheduler> scheduler;
  WireProxy proxy;
  std::unique_ptr<pqxx::connection> control;
  std::vector<std::shared_ptr<WorkerConnection>> connections;
  std::string deadlock_timeout;
  std::chrono::milliseconds settle_for{0};  // deadlock_timeout to let pass, 0: none

  Impl(const ScenarioInfo& i, Scenario& s, const std::vector<Invariant>& inv, const Knobs& k, const RunSettings& st,
       const std::string& d, int workers)
      : info(i),
        scenario(s),
        invariants(inv),
        knobs(k),
        settings(st),
        dsn(d),
        scheduler(std::make_shared<RequestScheduler>(clients(workers))),
        proxy(d, scheduler.get()) {
    control = connect(dsn);
    prepare_session(*control, Isolation::read_committed, "pgrace-control", settings.statement_timeout_s);
    for (int w = 0; w < workers; ++w) open_worker(w);
    pqxx::nontransaction tx(connections.front()->get());  // before any execution: not held
    deadlock_timeout = tx.exec("SHOW deadlock_timeout")[0][0].c_str();
    if (auto shown = parse_show_duration(deadlock_timeout); shown && *shown <= kMaxDeadlockSettle) settle_for = *shown;
  }

  static std::vector<std::string> clients(int workers) {
    std::vector<std::string> names;
    for (int w = 0; w < workers; ++w) names.push_back(worker_session_name(w));
    return names;
  }

  // Worker `w`'s connection; opened again on the worker's thread after a
  // fault dropped it, maybe after this Impl is gone: it holds copies.
  void open_worker(int w) {
    auto open = [worker_dsn = proxy.proxied_dsn(dsn) + " application_name=" + worker_session_name(w), w,
                 isolation = knobs.isolation, statement_timeout = settings.statement_timeout_s, info = info, dsn = dsn,
                 &scenario = scenario] {
      auto connection = connect(worker_dsn);
      prepare_session(*connection, isolation, worker_session_name(w), statement_timeout, kDeadlockTimeout);
      call_scenario(info, "prepare()", dsn, [&] { scenario.prepare(*connection); });
      return connection;
    };
    connections.push_back(std::make_shared<WorkerConnection>(open, scheduler, w));
  }

  // Worker `w`'s session: that of its latest request (a worker process's own
  // connection), else the connection pgrace opened for it.
  int pid(std::size_t w) const {
    const int seen = scheduler->last_backend_pid(static_cast<int>(w));
    return seen != 0 ? seen : connections[w]->backend_pid();
  }

  // Whether worker `w`'s request waits for a lock (or a safe snapshot) that
  // another worker holds.
  bool is_blocked(int w) { return detail::is_blocked(*control, pid(w), other_pids(w)); }

  // The workers that worker `w`'s request waits for now.
  std::vector<int> blockers_of(int w) {
    std::vector<int> workers;
    for (int blocker : detail::blockers_of(*control, pid(w), other_pids(w)))
      for (std::size_t o = 0; o < connections.size(); ++o)
        if (pid(o) == blocker) workers.push_back(static_cast<int>(o));
    return workers;
  }

  std::vector<int> other_pids(int w) const {
    std::vector<int> others;
    for (std::size_t o = 0; o < connections.size(); ++o)
      if (static_cast<int>(o) != w) others.push_back(pid(o));
    return others;
  }
};

StatementRunner::StatementRunner(const ScenarioInfo& info, Scenario& scenario, const std::vector<Invariant>& invariants,
                                 const Knobs& knobs, const RunSettings& settings, const std::string& database_dsn,
                                 int workers)
    : impl_(std::make_unique<Impl>(info, scenario, invariants, knobs, settings, database_dsn, workers)) {}

StatementRunner::~StatementRunner() { impl_->scheduler->disarm(); }

int StatementRunner::workers() const { return static_cast<int>(impl_->connections.size()); }
const std::string& StatementRunner::deadlock_timeout() const { return impl_->deadlock_timeout; }

namespace {

// One execution's control loop, on the main thread.
class Execution {
 public:
  Execution(StatementRunner::Impl& runner, const std::vector<int>& prefix, const std::optional<PlannedFault>& fault,
            int draw, Clock::time_point deadline)
      : r_(runner),
        prefix_(prefix),
        fault_(fault),
        draw_(draw),
        deadline_(deadline),
        outcomes_(std::make_shared<std::vector<Outcome>>(r_.connections.size())) {}

  StatementExecution run() {
    reset_state(*r_.control, r_.scenario, r_.info, r_.dsn);
    r_.scheduler->arm(fault_);
    start_workers();
    try {
      drive();
    } catch (...) {
      r_.proxy.cut_delays();  // the execution is abandoned: no held reply waits out its delay
      end_workers();
      throw;
    }
    end_workers();
    result_.requests = r_.scheduler->record();
    if (r_.info.outcomes_from_wire) judge_from_wire();
    result_.outcomes = *outcomes_;
    result_.fault = fault_;
    result_.fault_injected = r_.scheduler->fault_injected();
    result_.draw = draw_;
    result_.drew_inputs = *drew_;
    if (!result_.diverged) check();
    return std::move(result_);
  }

 private:
  void start_workers() {
    for (std::size_t w = 0; w < r_.connections.size(); ++w) {
      auto connection = r_.connections[w];
      threads_.push_back(std::make_unique<WatchedThread>([&scenario = r_.scenario, scheduler = r_.scheduler, connection,
                                                          outcomes = outcomes_, drew = drew_, w,
                                                          generator = draw_generator(r_.settings.seed, draw_,
                                                                                     static_cast<int>(w)),
                                                          retries = r_.knobs.retry.max_retries] {
        StatementWorker worker(*connection, generator, static_cast<int>(w), *drew);
        (*outcomes)[w] = run_transaction(scenario, worker, retries);
        scheduler->finish(static_cast<int>(w));
      }));
    }
  }

  // ScenarioInfo::outcomes_from_wire: each worker's transaction said to
  // have committed ended as its requests show.
  void judge_from_wire() {
    for (std::size_t w = 0; w < outcomes_->size(); ++w) {
      Outcome& outcome = (*outcomes_)[w];
      if (outcome.kind != OutcomeClass::committed) continue;
      const ScheduledRequest* last = nullptr;
      for (const ScheduledRequest& r : result_.requests) {
        if (r.worker != static_cast<int>(w) || !r.request.completed || !r.request.executes) continue;
        if (!r.request.sqlstate.empty()) {
          outcome = {classify_sqlstate(r.request.sqlstate), r.request.sqlstate, ""};
          break;
        }
        last = &r;
      }
      if (outcome.kind == OutcomeClass::committed && last && is_rollback(last->request.sql))
        outcome.kind = OutcomeClass::rejected;
    }
  }

  // Lets everything through and joins the workers (those stuck in C++ past
  // the deadline are ended as stragglers).
  void end_workers() {
    r_.scheduler->disarm();
    std::vector<Straggler> stuck;
    for (std::size_t w = 0; w < threads_.size(); ++w) {
      WatchedThread& thread = *threads_[w];
      if (thread.join_until(std::max(deadline_, Clock::now() + kGrace))) continue;
      stuck.push_back({"worker " + std::to_string(w), r_.pid(w),
                       [&thread](Clock::time_point d) { return thread.join_until(d); },
                       [&thread] { thread.abandon(); }});
    }
    if (!stuck.empty())
      throw ScenarioFailure("statement-level execution: " + end_stragglers(r_.control.get(), stuck, kGrace));
  }

  // Chooses request after request until every worker finished.
  void drive() {
    for (int last = -1;;) {
      const std::vector<int> enabled = settle();
      if (enabled.empty()) return;  // every worker finished
      if (grant_a_begin(enabled)) continue;
      const std::size_t i = result_.points.size();
      int chosen = std::find(enabled.begin(), enabled.end(), last) != enabled.end() ? last : enabled.front();
      if (i < prefix_.size()) {
        chosen = prefix_[i];
        if (std::find(enabled.begin(), enabled.end(), chosen) == enabled.end()) {
          result_.diverged = true;
          result_.chose_finished =
              r_.scheduler->snapshot().spots[static_cast<std::size_t>(chosen)] == WorkerSpot::finished;
          result_.note =
              "worker w" + std::to_string(chosen + 1) + " had no request to send at choice " + std::to_string(i + 1);
          return;
        }
      }
      result_.points.push_back({enabled, chosen});
      let_deadlock_checks_run();
      running_since_.clear();  // the step timeout counts from each grant
      r_.scheduler->grant(chosen);
      last = chosen;
    }
  }

  // Lets the first pending bare BEGIN through, if any (no choice: it
  // changes nothing, and going first keeps the record the same every run).
  bool grant_a_begin(const std::vector<int>& enabled) {
    for (int w : enabled)
      if (r_.scheduler->pending_begin(w)) {
        running_since_.clear();
        r_.scheduler->grant(w);
        return true;
      }
    return false;
  }

  // Waits until no worker runs C++ code and every in-flight request is seen
  // waiting for another worker's lock; returns the workers whose request is
  // held (empty once all finished). A request that neither completes nor
  // waits within the step timeout is cancelled.
  std::vector<int> settle() {
    for (auto pause = std::chrono::microseconds(100);; pause = std::min(pause * 2, std::chrono::microseconds(2000))) {
      if (Clock::now() > deadline_)
        throw ScenarioFailure("the run's time limit passed during a statement-level execution");
      const auto snapshot = r_.scheduler->snapshot();
      std::vector<int> enabled;
      bool moving = false;
      for (std::size_t w = 0; w < snapshot.spots.size(); ++w) {
        const WorkerSpot spot = snapshot.spots[w];
        if (spot == WorkerSpot::pending) enabled.push_back(static_cast<int>(w));
        if (spot == WorkerSpot::running) moving = true;
        if (spot == WorkerSpot::in_flight && !waiting(static_cast<int>(w))) moving = true;
      }
      const bool all_finished = std::all_of(snapshot.spots.begin(), snapshot.spots.end(),
                                            [](WorkerSpot spot) { return spot == WorkerSpot::finished; });
      // Nothing held and nothing moving, but not finished: the in-flight
      // requests wait for each other, until the deadlock detector ends it.
      if (!moving && (!enabled.empty() || all_finished)) return enabled;
      r_.scheduler->wait_for_change(snapshot.generation, Clock::now() + pause);
    }
  }

  // Whether worker `w`'s in-flight request waits for a lock now; cancels it
  // once it has neither completed nor waited for the step timeout.
  bool waiting(int w) {
    if (r_.is_blocked(w)) {
      if (!waiting_since_.count(w)) {
        waiting_since_[w] = Clock::now();
        r_.scheduler->mark_waiting(w, r_.blockers_of(w));
      }
      return true;
    }
    waiting_since_.erase(w);
    auto [started, inserted] = running_since_.emplace(w, Clock::now());
    if (!inserted && Clock::now() - started->second > r_.settings.step_timeout) cancel(w);
    return false;
  }

  void cancel(int w) {
    pqxx::nontransaction tx(*r_.control);
    tx.exec_params("SELECT pg_cancel_backend($1)", std::to_string(r_.pid(static_cast<std::size_t>(w))));
    result_.note += (result_.note.empty() ? "" : "; ") + std::string("a request of worker w") + std::to_string(w + 1) +
                    " neither completed nor waited on a lock within the step timeout: cancelled";
    running_since_.erase(w);
  }

  // Before the next request goes: every request seen waiting has waited
  // deadlock_timeout, so its deadlock check has run and a deadlock is always
  // detected by the request that closed the cycle.
  void let_deadlock_checks_run() {
    if (r_.settle_for.count() == 0) return;
    for (const auto& [w, since] : waiting_since_)
      std::this_thread::sleep_until(since + r_.settle_for + std::chrono::milliseconds(1));
  }

  void check() {
    pqxx::work tx(*r_.control);
    std::map<OutcomeClass, long> counts;
    for (const Outcome& o : *outcomes_) ++counts[o.kind];
    CheckContext context{tx, counts, static_cast<long>(outcomes_->size())};
    for (const Outcome& o : *outcomes_) {
      if (o.kind == OutcomeClass::scenario_error)
        throw ScenarioFailure("transaction() threw: " + pgrace::one_line(o.message, 300));
      if (o.kind == OutcomeClass::connection_lost)
        throw lost_connection_error("a worker", r_.info.name, o.message, r_.dsn);
    }
    for (const Invariant& invariant : r_.invariants)
      result_.witnesses.push_back(check_or_fail(invariant, context, r_.settings.max_witnesses, "after an execution"));
  }

  StatementRunner::Impl& r_;
  const std::vector<int>& prefix_;
  const std::optional<PlannedFault>& fault_;
  const int draw_;
  const Clock::time_point deadline_;
  std::shared_ptr<std::vector<Outcome>> outcomes_;
  // Whether some worker called w.rng(); shared like outcomes_ (a worker left
  // running past the deadline may still call it).
  std::shared_ptr<std::atomic<bool>> drew_ = std::make_shared<std::atomic<bool>>(false);
  std::vector<std::unique_ptr<WatchedThread>> threads_;
  std::map<int, Clock::time_point> waiting_since_;
  std::map<int, Clock::time_point> running_since_;
  StatementExecution result_;
};

}  // namespace

StatementExecution StatementRunner::run(const std::vector<int>& prefix, const std::optional<PlannedFault>& fault,
                                        int draw, Clock::time_point deadline) {
  return Execution(*impl_, prefix, fault, draw, deadline).run();
}

}  // namespace pgrace::detail
