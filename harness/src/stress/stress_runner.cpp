#include "stress/stress_runner.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <iomanip>
#include <mutex>
#include <pqxx/nontransaction>
#include <sstream>
#include <thread>

#include "stress/barrier.hpp"
#include "server/connection_errors.hpp"
#include "server/database.hpp"
#include "faults/gate.hpp"
#include "wire/request_history.hpp"
#include "core/judge.hpp"
#include "stress/lease_pool.hpp"
#include "pgrace/connection.hpp"
#include "pgrace/dsn.hpp"
#include "pgrace/error.hpp"
#include "core/run_shared.hpp"
#include "core/session_setup.hpp"
#include "stress/shared_pool.hpp"
#include "core/stragglers.hpp"
#include "core/watched_thread.hpp"
#include "wire/proxy.hpp"
#include "faults/worker_connection.hpp"
#include "stress/worker_pool.hpp"

namespace pgrace::detail {
namespace {

constexpr std::size_t kOutcomeClasses = static_cast<std::size_t>(OutcomeClass::scenario_error) + 1;
// How long a thread whose backend was cancelled or terminated gets to return.
constexpr std::chrono::seconds kGrace{1};
// The planned time of a transaction in iteration mode, for the default timeout.
constexpr double kPlannedSecondsPerIteration = 0.1;
// How many of each worker's last requests a report keeps (Stress::requests).
constexpr std::size_t kRequestsPerWorker = 100;

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

std::string number_text(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

std::string seconds_text(double seconds) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << seconds << " s";
  return out.str();
}

// Outcome counts that workers bump and the monitor reads while they run.
using LiveCounts = std::array<std::atomic<long>, kOutcomeClasses>;

std::map<OutcomeClass, long> snapshot(const LiveCounts& counts) {
  std::map<OutcomeClass, long> out;
  for (std::size_t i = 0; i < counts.size(); ++i)
    if (long n = counts[i].load()) out[static_cast<OutcomeClass>(i)] = n;
  return out;
}

// Knobs::faults at work: the workers' connections go through a wire proxy
// whose gate injects them. The proxy goes first (it calls the gate).
struct FaultInjection {
  FaultInjection(const std::string& dsn, const Knobs& knobs, std::uint64_t seed)
      : gate(knobs.faults, seed, knobs.threads), proxy(dsn, &gate) {}
  FaultGate gate;
  WireProxy proxy;
};

// The connections of one scenario run. Worker, pool and monitor connections
// are shared with the threads that use them, which may outlive the run.
struct Connections {
  Connections() = default;
  Connections(Connections&&) = default;
  // A worker thread left running keeps the proxy; it stops with the run all the same.
  ~Connections() {
    if (faults) faults->proxy.stop();
  }

  std::unique_ptr<pqxx::connection> control;  // the main thread's: reset, final check, pg_stat_activity
  std::shared_ptr<pqxx::connection> monitor;
  int monitor_pid = 0;
  std::shared_ptr<FaultInjection> faults;  // when Knobs::faults is not empty
  std::vector<std::shared_ptr<WorkerConnection>> workers;
  std::shared_ptr<RoundRobinPool> pool;
  std::shared_ptr<LeasePool> leases;  // Knobs::pool, when its size is not 0
};

enum class WorkerPhase { waiting, in_transaction, done };

class WorkerState final : public Worker {
 public:
  WorkerState(std::shared_ptr<WorkerConnection> connection, std::shared_ptr<FaultInjection> faults,
              std::shared_ptr<RoundRobinPool> pool, std::shared_ptr<LeasePool> leases, int index, std::uint64_t seed,
              int repetition)
      : connection_(std::move(connection)),
        faults_(std::move(faults)),
        pool_(std::move(pool)),
        repetition_(repetition),
        leases_(leases ? std::make_unique<WorkerPool>(std::move(leases), index) : nullptr),
        index_(index) {
    std::seed_seq sequence{seed, static_cast<std::uint64_t>(index), static_cast<std::uint64_t>(repetition)};
    rng_.seed(sequence);
  }
  // Its own connection; a new one after fault injection dropped the last.
  pqxx::connection& connection() override { return connection_->get(); }
  // Its own connection (not a pooled one) is still open. Call after joining.
  bool own_connection_open() const { return connection_->is_open(); }
  // Its own connection's backend. Any thread.
  int backend_pid() const { return connection_->backend_pid(); }
  // The iteration starts: fault places count from its first request.
  void begin_iteration(long iteration) {
    iteration_ = iteration;
    connection_->forget_drop();
    if (faults_) faults_->gate.begin_iteration(index_, repetition_, iteration);
  }
  // See WorkerConnection::judged().
  Outcome judged(const Outcome& outcome) { return connection_->judged(outcome); }
  // Since when it waits for a pooled connection; nullopt when it does not. Any thread.
  std::optional<Clock::time_point> waiting_for_pool_since() const {
    return leases_ ? leases_->waiting_since() : std::nullopt;
  }
  SharedPool& shared_pool() override {
    if (!pool_) throw std::logic_error("shared_pool() needs uses_shared_pool = true in the scenario's info()");
    return *pool_;
  }
  Pool& pool() override {
    if (!leases_)
      throw std::logic_error(
          "pool() needs a pool: set Knobs::pool.size in the scenario's info() or pass --pool-size");
    return *leases_;
  }
  std::mt19937_64& rng() override { return rng_; }
  int index() const override { return index_; }
  long iteration() const override { return iteration_; }
  int attempt() const override { return attempt_; }

  // Read by the main thread while the worker runs, to name a stuck worker.
  std::atomic<long> iteration_{0};
  std::atomic<WorkerPhase> phase{WorkerPhase::waiting};
  std::atomic<Clock::time_point> transaction_started{};
  int attempt_ = 0;
  // What this worker saw; read by the main thread after joining.
  std::vector<double> latencies_ms;
  std::map<OutcomeClass, long> outcomes;
  std::map<std::string, long> sqlstates;
  long attempts = 0;
  long retries = 0;
  std::optional<Outcome> fatal;          // connection lost or scenario bug: the run stops
  std::optional<Outcome> first_failure;  // its first failed attempt

 private:
  std::shared_ptr<WorkerConnection> connection_;
  std::shared_ptr<FaultInjection> faults_;
  std::shared_ptr<RoundRobinPool> pool_;
  int repetition_;
  std::unique_ptr<WorkerPool> leases_;
  int index_;
  std::mt19937_64 rng_;
};

// Everything one repetition's threads share. The main thread and every
// worker and monitor thread own it jointly, so that a thread left running
// past the timeout never touches freed memory.
struct Repetition {
  Repetition(Scenario& s, const Knobs& k, std::vector<Invariant> i, std::size_t w)
      : scenario(s),
        knobs(k),
        invariants(std::move(i)),
        max_witnesses(w),
        start(static_cast<std::size_t>(k.threads) + 1),
        round(static_cast<std::size_t>(k.threads), [this] { start_round(); }),
        first_seen(invariants.size()),
        first_witnesses(invariants.size()) {}

  // The round barrier's completion: decides, once for all workers, whether
  // another round runs. In duration mode the first round always does.
  void start_round() {
    ++rounds_started;
    const bool done = knobs.duration_s ? rounds_started > 1 && Clock::now() >= deadline
                                       : rounds_started > knobs.iterations;
    stop = done || abort;
  }

  Scenario& scenario;
  const Knobs knobs;
  const std::vector<Invariant> invariants;
  const std::size_t max_witnesses;
  std::vector<std::unique_ptr<WorkerState>> workers;
  LiveCounts live{};
  std::atomic<long> ended{0};
  std::atomic<bool> abort{false};
  std::atomic<bool> stop{false};
  long rounds_started = 0;     // touched only by start_round()
  Clock::time_point deadline;  // duration mode: no transaction starts after it (set before release)
  Barrier start;       // the workers and the main thread
  Barrier round;       // the workers, before every transaction (Sync::round)
  // Monitor results: first time each invariant was seen violated (ms since release).
  std::vector<std::optional<double>> first_seen;
  std::vector<std::vector<std::string>> first_witnesses;
  std::atomic<bool> violation_seen{false};  // some first_seen is set (read by the progress report)
  std::atomic<int> monitor_checking{-1};  // the invariant the monitor is checking, or -1
  std::mutex mutex;
  std::condition_variable changed;
  int finished_workers = 0;             // guarded by mutex
  bool monitor_stop = false;            // guarded by mutex
  std::exception_ptr monitor_failure;   // guarded by mutex
};

void run_one_transaction(Repetition& rep, WorkerState& worker, long iteration) {
  worker.begin_iteration(iteration);
  const auto started = Clock::now();
  worker.transaction_started = started;
  worker.phase = WorkerPhase::in_transaction;
  Outcome outcome{OutcomeClass::committed, "", ""};
  for (worker.attempt_ = 0;; ++worker.attempt_) {
    ++worker.attempts;
    try {
      TxResult result = rep.scenario.transaction(worker);
      outcome = {result == TxResult::committed ? OutcomeClass::committed : OutcomeClass::rejected, "", ""};
    } catch (...) {
      outcome = worker.judged(classify(std::current_exception()));
      ++worker.sqlstates[outcome.sqlstate.empty() ? to_string(outcome.kind) : outcome.sqlstate];
      if (!worker.first_failure) worker.first_failure = outcome;
    }
    if (!is_retryable(outcome.kind) || worker.attempt_ >= rep.knobs.retry.max_retries) break;
    ++worker.retries;
    const int shift = std::min(worker.attempt_, 6);
    std::this_thread::sleep_for(std::chrono::microseconds(
        worker.uniform(0, static_cast<long>(rep.knobs.retry.backoff_max_us) << shift) / 8));
  }
  worker.phase = WorkerPhase::waiting;
  worker.latencies_ms.push_back(ms_between(started, Clock::now()));
  ++worker.outcomes[outcome.kind];
  ++rep.live[static_cast<std::size_t>(outcome.kind)];
  ++rep.ended;
  if (outcome.kind == OutcomeClass::connection_lost || outcome.kind == OutcomeClass::scenario_error) {
    worker.fatal = outcome;
    rep.abort = true;
  }
}

void worker_main(Repetition& rep, WorkerState& worker) {
  if (rep.start.arrive_and_wait()) {
    if (rep.knobs.sync == Sync::round) {
      for (long i = 0; rep.round.arrive_and_wait() && !rep.stop; ++i)
        if (!worker.fatal) run_one_transaction(rep, worker, i);
    } else {
      for (long i = 0; !rep.abort; ++i) {
        if (rep.knobs.duration_s ? i > 0 && Clock::now() >= rep.deadline : i >= rep.knobs.iterations) break;
        run_one_transaction(rep, worker, i);
      }
    }
  }
  worker.phase = WorkerPhase::done;
  std::lock_guard lock(rep.mutex);
  ++rep.finished_workers;
  rep.changed.notify_all();
}

// Checks the during-run invariants until told to stop: every 5 ms at first,
// when races show up, then less often (up to every 10 ms). With nothing left
// to check it still sends SELECT 1, so that a lost connection shows at once.
// A failure stops the run: the main thread wakes up and judges it.
void monitor_main(Repetition& rep, pqxx::connection& connection, Clock::time_point released) {
  try {
    for (auto poll = std::chrono::milliseconds(5);; poll = std::min(poll + std::chrono::milliseconds(1),
                                                                    std::chrono::milliseconds(10))) {
      {
        pqxx::nontransaction tx(connection);  // one round trip per invariant: it shares the server with the run
        const auto counts = snapshot(rep.live);
        CheckContext context{tx, counts, 0};
        bool sent = false;
        for (std::size_t i = 0; i < rep.invariants.size(); ++i) {
          const Invariant& invariant = rep.invariants[i];
          // A plan is checked after the run only, whatever during_run says.
          if (!invariant.during_run || invariant.kind == InvariantKind::uses_index || rep.first_seen[i]) continue;
          rep.monitor_checking = static_cast<int>(i);
          auto witnesses = check_or_fail(invariant, context, rep.max_witnesses, "during the run");
          sent = sent || invariant.kind != InvariantKind::predicate;
          if (!witnesses.empty()) {
            rep.first_seen[i] = ms_between(released, Clock::now());
            rep.first_witnesses[i] = std::move(witnesses);
            rep.violation_seen = true;
          }
        }
        rep.monitor_checking = -1;
        if (!sent) tx.exec("SELECT 1");
      }
      std::unique_lock lock(rep.mutex);
      if (rep.changed.wait_for(lock, poll, [&] { return rep.monitor_stop; })) return;
    }
  } catch (...) {
    std::lock_guard lock(rep.mutex);
    rep.monitor_failure = std::current_exception();
    rep.abort = true;
    rep.changed.notify_all();
  }
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  std::size_t at = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(at, sorted.size() - 1)];
}

LatencySummary summary_of(std::vector<double> values_ms) {
  std::sort(values_ms.begin(), values_ms.end());
  return {percentile(values_ms, 0.5), percentile(values_ms, 0.9), percentile(values_ms, 0.99),
          values_ms.empty() ? 0 : values_ms.back()};
}

Connections open_connections(const std::string& dsn, const ScenarioInfo& info, Scenario& scenario,
                             const Knobs& knobs, const RunSettings& settings, std::string& deadlock_timeout) {
  const double st = settings.statement_timeout_s;
  Connections c;
  c.control = connect(dsn);
  // The workers' sessions get the same settings.
  deadlock_timeout = prepare_session(*c.control, Isolation::read_committed, "pgrace-control", st);
  c.monitor = connect(dsn);
  c.monitor_pid = c.monitor->backendpid();
  prepare_session(*c.monitor, Isolation::read_committed, "pgrace-monitor", st);
  if (!knobs.faults.empty()) c.faults = std::make_shared<FaultInjection>(dsn, knobs, settings.seed);
  for (int i = 0; i < knobs.threads; ++i) {
    const std::string client = worker_session_name(i);
    const std::string worker_dsn = c.faults ? c.faults->proxy.proxied_dsn(dsn) + " application_name=" + client : dsn;
    // Called again by the worker's thread for a connection fault injection
    // dropped, maybe after the run (a thread left running): it holds copies.
    auto open = [worker_dsn, dsn, client, isolation = knobs.isolation, st, info, &scenario] {
      auto connection = connect(worker_dsn);
      prepare_session(*connection, isolation, client, st);
      call_scenario(info, "prepare()", dsn, [&] { scenario.prepare(*connection); });
      return connection;
    };
    std::shared_ptr<FaultedConnections> drops;
    if (c.faults) drops = std::shared_ptr<FaultedConnections>(c.faults, &c.faults->gate);
    c.workers.push_back(std::make_shared<WorkerConnection>(open, drops, i));
  }
  if (info.uses_shared_pool) {
    std::vector<std::unique_ptr<pqxx::connection>> pooled;
    for (int i = 0; i < knobs.threads; ++i) {
      pooled.push_back(connect(dsn));
      prepare_session(*pooled.back(), knobs.isolation, "pgrace-pool-" + std::to_string(i), st);
      // A statement stuck behind a transaction that only a later statement
      // can end must give up rather than stall the round.
      pqxx::nontransaction tx(*pooled.back());
      tx.exec("SET lock_timeout = '20ms'");
    }
    c.pool = std::make_shared<RoundRobinPool>(std::move(pooled));
  }
  if (knobs.pool.size > 0) {
    // Called again by reclaim() for a connection it replaces, while the run lasts.
    auto open = [dsn, isolation = knobs.isolation, st, &info, &scenario](int slot) {
      auto connection = connect(dsn);
      prepare_session(*connection, isolation, "pgrace-pool-lease-" + std::to_string(slot), st);
      call_scenario(info, "prepare()", dsn, [&] { scenario.prepare(*connection); });
      return connection;
    };
    c.leases = std::make_shared<LeasePool>(knobs.pool.size, knobs.pool.acquire_timeout, open);
  }
  return c;
}

// How the wait for a repetition's workers ended.
enum class WaitEnd { finished, monitor_failed, control_lost, timed_out };

// Sends SELECT 1 on `control`; returns why it failed (the connection is
// lost), or "". Never throws.
std::string control_failure(pqxx::connection& control) {
  try {
    pqxx::nontransaction tx(control);
    tx.exec("SELECT 1");
    return "";
  } catch (...) {
    return classify(std::current_exception()).message;
  }
}

// Waits until every worker finished, the monitor failed, the control
// connection (checked every 100 ms, when `progress` is offered a report)
// is lost or `deadline` passed.
WaitEnd await_workers(Repetition& rep, pqxx::connection& control, Clock::time_point deadline,
                      const std::function<void()>& progress, std::string& control_error) {
  std::unique_lock lock(rep.mutex);
  for (;;) {
    if (rep.changed.wait_for(lock, std::chrono::milliseconds(100), [&] {
          return rep.finished_workers == rep.knobs.threads || rep.monitor_failure;
        }))
      return rep.monitor_failure ? WaitEnd::monitor_failed : WaitEnd::finished;
    lock.unlock();
    const auto now = Clock::now();
    progress();
    control_error = control_failure(control);
    if (!control_error.empty()) return WaitEnd::control_lost;
    if (now >= deadline) return WaitEnd::timed_out;
    lock.lock();
  }
}

// What the main thread learnt from running one repetition.
struct RepetitionRun {
  WaitEnd end = WaitEnd::finished;
  bool timed_out = false;
  std::string control_error;  // control_lost: why
  std::string stragglers;     // timed_out: who was stuck, doing what, and what pgrace did
  std::vector<bool> joined;   // per worker: ended and joined (its state may be read)
  long ended = 0;             // transactions ended when the wait ended
  Clock::time_point released{};
  double run_ms = 0;
};

Straggler worker_straggler(Repetition& rep, int i, WatchedThread& thread) {
  const WorkerState& w = *rep.workers[i];
  std::string who = "worker " + std::to_string(i);
  if (w.phase == WorkerPhase::in_transaction) {
    who += " (iteration " + std::to_string(w.iteration()) + ", in transaction() for " +
           seconds_text(std::chrono::duration<double>(Clock::now() - w.transaction_started.load()).count());
    if (const auto since = w.waiting_for_pool_since())
      who += ", waiting for a pooled connection for " +
             seconds_text(std::chrono::duration<double>(Clock::now() - *since).count());
    who += ")";
  }
  return {who, w.backend_pid(), [&thread](Clock::time_point d) { return thread.join_until(d); },
          [&thread] { thread.abandon(); }};
}

// The pool's connections leased now, as stragglers of the workers holding
// them: their backends are named, cancelled and terminated with the workers'.
std::vector<Straggler> pooled_stragglers(const LeasePool& leases, std::vector<std::unique_ptr<WatchedThread>>& threads) {
  std::vector<Straggler> out;
  for (const PooledConnection& p : leases.leased_connections()) {
    const bool known = p.holder >= 0 && p.holder < static_cast<int>(threads.size());
    WatchedThread* thread = known ? threads[static_cast<std::size_t>(p.holder)].get() : nullptr;
    out.push_back({"pooled connection " + std::to_string(p.slot) +
                       (known ? " (leased by worker " + std::to_string(p.holder) + ")" : ""),
                   p.backend_pid, [thread](Clock::time_point d) { return !thread || thread->join_until(d); },
                   [thread] { if (thread) thread->abandon(); }});
  }
  return out;
}

// Cuts the injected delays short (WireProxy::cut_delays()), so that the
// workers whose reply one held go on; marks those workers in `held` and
// says who they were, or returns "" when none was held.
std::string cut_injected_delays(WireProxy& proxy, std::vector<bool>& held) {
  const auto replies = proxy.held_replies();
  proxy.cut_delays();
  std::string names, delays;
  for (std::size_t w = 0; w < held.size(); ++w)
    for (const ReplyHolds::Held& reply : replies)
      if (!held[w] && reply.client == worker_session_name(static_cast<int>(w))) {
        held[w] = true;
        names += (names.empty() ? "" : ", ") + std::string("worker ") + std::to_string(w);
        delays += (delays.empty() ? "" : ", ") + std::to_string(reply.delay.count()) + " ms";
      }
  if (names.empty()) return "";
  return names + " waited for a reply that pgrace's injected delay_reply fault held back (" + delays +
         "), not in the scenario's code; pgrace let the held replies go";
}

// Ends the workers that did not finish by `deadline` (see end_stragglers),
// with the pooled connections leased: first breaks the barriers, so that
// workers waiting for them end too, and cuts the injected delays short, so
// that workers waiting for a held reply end too; once the stuck are named,
// closes the pool, so that those waiting for a pooled connection end too.
std::string end_stuck_workers(Repetition& rep, std::vector<std::unique_ptr<WatchedThread>>& threads,
                              pqxx::connection* control, LeasePool* leases, FaultInjection* faults) {
  rep.abort = true;
  rep.start.break_all();
  rep.round.break_all();
  std::vector<bool> held(threads.size(), false);
  const std::string delayed = faults ? cut_injected_delays(faults->proxy, held) : "";
  std::vector<Straggler> stuck;
  const auto settle = Clock::now() + std::chrono::milliseconds(100);  // for those released from a barrier
  for (std::size_t i = 0; i < threads.size(); ++i)
    if (!threads[i]->join_until(held[i] ? Clock::now() + kGrace : settle))
      stuck.push_back(worker_straggler(rep, static_cast<int>(i), *threads[i]));
  if (leases) {
    if (!stuck.empty())
      for (auto& s : pooled_stragglers(*leases, threads)) stuck.push_back(std::move(s));
    leases->close();
  }
  const std::string stragglers = end_stragglers(control, stuck, kGrace);
  return delayed + (delayed.empty() || stragglers.empty() ? "" : "; ") + stragglers;
}

// Stops the monitor, letting it finish its check until `deadline` (at least
// kGrace); if it does not stop (stuck in a predicate), ends it as a
// straggler and returns what happened.
std::string stop_monitor(Repetition& rep, WatchedThread& monitor, int monitor_pid, pqxx::connection* control,
                         Clock::time_point deadline) {
  {
    std::lock_guard lock(rep.mutex);
    rep.monitor_stop = true;
    rep.changed.notify_all();
  }
  if (monitor.join_until(std::max(deadline, Clock::now() + kGrace))) return "";
  const int checking = rep.monitor_checking;
  std::string who = "the invariant monitor";
  if (checking >= 0) who += " (checking \"" + rep.invariants[checking].name + "\")";
  return end_stragglers(
      control,
      {{who, monitor_pid, [&monitor](Clock::time_point d) { return monitor.join_until(d); },
        [&monitor] { monitor.abandon(); }}},
      kGrace);
}

// Runs one repetition's workers and monitor until they finish, fail, or the
// run's `deadline` passes; ends every thread it started (or abandons it).
RepetitionRun run_repetition(const std::shared_ptr<Repetition>& rep, Connections& c, Clock::time_point deadline,
                             const std::function<void()>& progress) {
  std::vector<std::unique_ptr<WatchedThread>> threads;
  for (int i = 0; i < rep->knobs.threads; ++i)
    threads.push_back(std::make_unique<WatchedThread>([rep, i] { worker_main(*rep, *rep->workers[i]); }));
  rep->deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(rep->knobs.duration_s.value_or(0)));
  rep->start.arrive_and_wait();
  const auto released = Clock::now();
  WatchedThread monitor([rep, connection = c.monitor, released] { monitor_main(*rep, *connection, released); });

  RepetitionRun run;
  run.released = released;
  run.end = await_workers(*rep, *c.control, deadline, progress, run.control_error);
  run.run_ms = ms_between(released, Clock::now());
  run.ended = rep->ended;
  pqxx::connection* control = run.end == WaitEnd::control_lost ? nullptr : c.control.get();
  if (run.end != WaitEnd::finished) rep->abort = true;  // the workers stop after their transaction
  bool all_joined = run.end != WaitEnd::timed_out;
  for (auto& thread : threads) all_joined = all_joined && thread->join_until(deadline);
  if (!all_joined) {
    run.timed_out = true;
    run.stragglers = end_stuck_workers(*rep, threads, control, c.leases.get(), c.faults.get());
  }
  const std::string monitor_stuck = stop_monitor(*rep, monitor, c.monitor_pid, control, deadline);
  if (!monitor_stuck.empty()) {
    run.timed_out = true;
    run.stragglers += (run.stragglers.empty() ? "" : "; ") + monitor_stuck;
  }
  for (auto& thread : threads) run.joined.push_back(!thread->abandoned() && thread->join_until(Clock::now()));
  return run;
}

// The throughput floor (ScenarioInfo::expects_no_commits,
// min_committed_share): why repetition `r` proves nothing, or "". One that
// `violated` an invariant while some transaction committed or may have
// (indeterminate: its COMMIT reply was lost) proved something.
std::string lack_of_evidence(const ScenarioInfo& info, const std::map<OutcomeClass, long>& counts,
                             const std::optional<Outcome>& first_failure, int r, int repeat, bool violated) {
  const auto count = [&counts](OutcomeClass kind) { return counts.count(kind) ? counts.at(kind) : 0L; };
  long ended = 0;
  for (const auto& [kind, n] : counts) ended += n;
  const long committed = count(OutcomeClass::committed);
  if (violated && committed + count(OutcomeClass::indeterminate) > 0) return "";
  const std::string where = "in repetition " + std::to_string(r + 1) + " of " + std::to_string(repeat);
  if (committed == 0 && !info.expects_no_commits) {
    std::string outcomes;
    for (const auto& [kind, n] : counts) outcomes += (outcomes.empty() ? "" : ", ") + std::string(to_string(kind)) + "=" + std::to_string(n);
    std::string text = "no transaction committed " + where + " (" + std::to_string(ended) + " ended" +
                       (outcomes.empty() ? "" : ": " + outcomes);
    if (first_failure)
      text += "; first failure: " + (first_failure->sqlstate.empty() ? "" : first_failure->sqlstate + " ") +
              pgrace::one_line(first_failure->message, 200);
    const long faulted = count(OutcomeClass::indeterminate) + count(OutcomeClass::connection_dropped);
    if (ended > 0 && faulted == ended)
      return text + "): no commit was confirmed, the injected faults ended them all; lower the faults' "
                    "probability (--fault), or set expects_no_commits in the scenario's info()";
    if (faulted > 0)
      return text + "): no commit was confirmed, the injected faults ended " + std::to_string(faulted) +
             " of them; lower the faults' probability (--fault), fix the scenario, or set expects_no_commits in "
             "its info() if committing nothing is intended";
    if (violated)
      return text + "): no transaction of the run committed, so none explains the violation; check the "
                    "scenario's seed() and invariants";
    return text + "): the run tested nothing; fix the scenario, or set expects_no_commits in its info() if "
                  "committing nothing is intended";
  }
  if (ended > 0 && static_cast<double>(committed) < info.min_committed_share * static_cast<double>(ended)) {
    std::ostringstream share;
    share << std::setprecision(3) << 100.0 * static_cast<double>(committed) / static_cast<double>(ended) << "%";
    return "only " + std::to_string(committed) + " of " + std::to_string(ended) + " transactions (" + share.str() +
           ") committed " + where + ", below the scenario's floor min_committed_share = " +
           number_text(info.min_committed_share) + ": too little was tested to judge";
  }
  return "";
}

double planned_seconds(const Knobs& knobs, int repeat) {
  const double per_repetition =
      knobs.duration_s ? *knobs.duration_s : kPlannedSecondsPerIteration * static_cast<double>(knobs.iterations);
  return per_repetition * repeat;
}

// What made the monitor stop: a lost connection (infrastructure), a usage
// error (its SQL) or a predicate that threw (ScenarioFailure), rethrown.
[[noreturn]] void rethrow_monitor_failure(const std::exception_ptr& failure, const ScenarioInfo& info,
                                          const std::string& dsn) {
  try {
    std::rethrow_exception(failure);
  } catch (const Error&) {
    throw;
  } catch (const ScenarioFailure&) {
    throw;
  } catch (...) {
    throw lost_connection_error("the invariant monitor", info.name, classify(std::current_exception()).message, dsn);
  }
}

// Checks every invariant after repetition `rep` ran for `run_ms` and
// records the violations in `result`.
void final_check(Repetition& rep, pqxx::connection& control, double run_ms, ScenarioResult& result) {
  std::optional<double> first_violation;
  pqxx::work tx(control);
  const auto counts = snapshot(rep.live);
  const long planned = rep.knobs.duration_s ? 0 : static_cast<long>(rep.knobs.threads) * rep.knobs.iterations;
  CheckContext context{tx, counts, planned};
  for (std::size_t i = 0; i < rep.invariants.size(); ++i) {
    std::vector<std::string> witnesses =
        check_or_fail(rep.invariants[i], context, rep.max_witnesses, "in the final check");
    std::optional<double> seen = rep.first_seen[i];
    if (witnesses.empty() && !seen) continue;
    if (!seen) seen = run_ms;  // first noticed by the final check, after the run
    if (witnesses.empty()) witnesses = rep.first_witnesses[i];
    if (record_violation(result.invariants[i], witnesses)) result.invariants[i].first_violation_ms = seen;
    first_violation = std::min(first_violation.value_or(*seen), *seen);
  }
  if (first_violation) {
    ++result.stress.violating_runs;
    result.stress.first_violation_ms.push_back(*first_violation);
  }
}

// The connection worker `i` lost: its own ("worker 0") or, when that is
// still open, a pooled one it leased ("pooled connection 2 (leased by worker 0)").
std::string lost_connection_name(const WorkerState& worker, int i, const LeasePool* leases) {
  const std::string name = "worker " + std::to_string(i);
  if (!leases || !worker.own_connection_open()) return name;
  for (const PooledConnection& p : leases->broken_connections())
    if (p.holder == i) return "pooled connection " + std::to_string(p.slot) + " (leased by " + name + ")";
  return name;
}

// Adds what the workers that ended recorded to `result` and `latencies`;
// throws pgrace::Error (infrastructure) if one lost its connection, its own
// or a pooled one (unless pgrace ended it, past the timeout). Returns the
// first failed attempt.
std::optional<Outcome> collect_workers(const Repetition& rep, const RepetitionRun& run, const ScenarioInfo& info,
                                       const std::string& dsn, const LeasePool* leases, ScenarioResult& result,
                                       std::vector<double>& latencies) {
  std::optional<Outcome> first_failure;
  for (std::size_t i = 0; i < rep.workers.size(); ++i) {
    if (!run.joined[i]) continue;  // left running: its state is still its own
    const WorkerState& worker = *rep.workers[i];
    if (worker.fatal && worker.fatal->kind == OutcomeClass::connection_lost && !run.timed_out)
      throw lost_connection_error(lost_connection_name(worker, static_cast<int>(i), leases), info.name,
                                  worker.fatal->message, dsn);
    if (worker.fatal && worker.fatal->kind == OutcomeClass::scenario_error && result.error.empty())
      result.error = "transaction() threw: " + scrub_secrets(worker.fatal->message, dsn);
    if (!first_failure) first_failure = worker.first_failure;
    for (auto& [kind, n] : worker.outcomes) result.outcomes[kind] += n;
    for (auto& [state, n] : worker.sqlstates) result.sqlstates[state] += n;
    result.attempts += worker.attempts;
    result.stress.retries += worker.retries;
    latencies.insert(latencies.end(), worker.latencies_ms.begin(), worker.latencies_ms.end());
  }
  return first_failure;
}
// One scenario's stress run, phase by phase in the order of a scenario's
// life (see pgrace/scenario.hpp): setup (database, connections), then per
// repetition reset, run and check, then teardown. It records what it saw in
// the result; judge() gives the verdict.
class StressRun {
 public:
  StressRun(const Server& server, const ScenarioInfo& info, Scenario& scenario, const RunSettings& settings,
            ProgressReporter& progress, ScenarioResult& result)
      : server_dsn_(server.dsn()), info_(info), scenario_(scenario), settings_(settings), progress_(progress),
        result_(result), knobs_(result.knobs),
        planned_(knobs_.duration_s ? std::nullopt
                                   : std::optional<long>(long{knobs_.threads} * knobs_.iterations * settings.repeat)) {}

  void run() {
    invariants_ = call_scenario(info_, "invariants()", server_dsn_, [&] { return scenario_.invariants(); });
    result_.invariants = invariant_entries(invariants_);
    const std::string schema = call_scenario(info_, "schema()", server_dsn_, [&] { return scenario_.schema(); });
    auto phase_start = Clock::now();
    ScenarioDatabase database(server_dsn_, schema, info_.name);
    {
      Connections connections =
          open_connections(database.dsn(), info_, scenario_, knobs_, settings_, result_.deadlock_timeout);
      result_.phases.setup_ms = ms_between(phase_start, Clock::now());
      start_clock();
      try {
        for (int r = 0; r < settings_.repeat && result_.error.empty(); ++r)
          if (!repetition(r, connections)) break;
      } catch (...) {
        record_statistics(connections);  // what the repetitions that ran measured stays in the report
        throw;
      }
      record_statistics(connections);
      phase_start = Clock::now();
    }  // connections close here (those of threads left running, when those end)
    database.drop();
    result_.phases.teardown_ms = ms_between(phase_start, Clock::now());
  }

 private:
  // The run's time bound counts from here: the scenario's own work.
  void start_clock() {
    timeout_ = run_timeout(settings_, planned_seconds(knobs_, settings_.repeat));
    deadline_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout_);
  }

  // Repetition `r`: reset (TRUNCATE + seed), run (workers and monitor),
  // check. Returns false when the run must stop (it timed out).
  bool repetition(int r, Connections& connections) {
    const auto phase_start = Clock::now();
    reset_state(*connections.control, scenario_, info_, server_dsn_);
    result_.phases.reset_ms += ms_between(phase_start, Clock::now());

    auto rep = std::make_shared<Repetition>(scenario_, knobs_, invariants_, settings_.max_witnesses);
    for (int i = 0; i < knobs_.threads; ++i)
      rep->workers.push_back(std::make_unique<WorkerState>(connections.workers[i], connections.faults,
                                                           connections.pool, connections.leases, i,
                                                           settings_.seed, r));
    const auto report_progress = [&, r] {
      progress_.offer(ProgressUnit::transactions, ended_before_ + rep->ended, planned_,
                      result_.stress.violating_runs + rep->violation_seen, r, settings_.repeat);
    };
    report_progress();
    if (connections.faults) connections.faults->proxy.clear_history();
    const RepetitionRun run = run_repetition(rep, connections, deadline_, report_progress);
    ended_before_ += run.ended;
    result_.phases.run_ms += run.run_ms;
    ++result_.stress.repetitions;
    return check(r, *rep, run, connections);
  }

  // The check of repetition `r`, on the main thread (the workers only
  // recorded): what the workers saw, then every invariant, then the
  // throughput floor. Returns false when the repetition timed out.
  bool check(int r, Repetition& rep, const RepetitionRun& run, Connections& connections) {
    if (run.end == WaitEnd::control_lost)
      throw lost_connection_error("pgrace's control session", info_.name, run.control_error, server_dsn_);
    {
      // Also when it failed after the workers finished (its first check may
      // come after them on a busy machine), unless pgrace ended it on a
      // timeout: what it saw is still the run's.
      std::lock_guard lock(rep.mutex);
      if (run.end == WaitEnd::monitor_failed || (rep.monitor_failure && !run.timed_out))
        rethrow_monitor_failure(rep.monitor_failure, info_, server_dsn_);
    }
    const auto first_failure =
        collect_workers(rep, run, info_, server_dsn_, connections.leases.get(), result_, latencies_);
    if (run.timed_out) {
      result_.error = "timed out after " + timeout_text(settings_, timeout_) + " in repetition " +
                      std::to_string(r + 1) + " after " + std::to_string(run.ended) + " transaction(s) ended: " +
                      (run.stragglers.empty() ? "no worker was stuck, the run was just longer than that"
                                              : scrub_secrets(run.stragglers, server_dsn_));
      return false;
    }
    const auto phase_start = Clock::now();
    if (connections.pool) connections.pool->roll_back_all();
    if (connections.leases) connections.leases->reclaim(*connections.control);
    const int violating_before = result_.stress.violating_runs;
    final_check(rep, *connections.control, run.run_ms, result_);
    const bool violated = result_.stress.violating_runs > violating_before;
    if (connections.faults && violated && !result_.stress.requests_repetition)
      record_requests(r, run.released, connections.faults->proxy);
    result_.phases.check_ms += ms_between(phase_start, Clock::now());
    if (result_.error.empty())
      result_.error = scrub_secrets(
          lack_of_evidence(info_, snapshot(rep.live), first_failure, r, settings_.repeat, violated), server_dsn_);
    return true;
  }

  // Throughput, latency percentiles, the pool's statistics and the faults over every repetition.
  void record_statistics(const Connections& connections) {
    if (connections.leases) record_pool(*connections.leases);
    if (connections.faults) result_.stress.faults = connections.faults->gate.injected();
    summarize();
  }

  // The requests of repetition `r`, which violated: each worker's last
  // kRequestsPerWorker, in the order they started.
  void record_requests(int r, Clock::time_point released, const WireProxy& proxy) {
    auto& records = result_.stress.requests;
    for (int w = 0; w < knobs_.threads; ++w) {
      const auto history = proxy.history(worker_session_name(w));
      const std::size_t from = history.size() > kRequestsPerWorker ? history.size() - kRequestsPerWorker : 0;
      for (std::size_t i = from; i < history.size(); ++i) {
        const WireRequest& q = history[i];
        const auto since = [released](Clock::time_point t) { return t == Clock::time_point{} ? 0 : ms_between(released, t); };
        records.push_back({w, scrub_secrets(sql_text(q), server_dsn_), since(q.started), since(q.ended),
                           q.completed ? q.status : '\0', q.sqlstate, q.fault});
      }
    }
    // A request never sent (started_ms 0) stands where its connection was dropped.
    const auto when = [](const RequestRecord& q) { return q.started_ms != 0 ? q.started_ms : q.ended_ms; };
    std::stable_sort(records.begin(), records.end(),
                     [&when](const RequestRecord& a, const RequestRecord& b) { return when(a) < when(b); });
    result_.stress.requests_repetition = r + 1;
  }

  // Throughput and latency percentiles over every repetition.
  void summarize() {
    long ended = 0;
    for (auto& [kind, n] : result_.outcomes) ended += n;
    Stress& stress = result_.stress;
    stress.throughput_tps = result_.phases.run_ms > 0 ? ended / (result_.phases.run_ms / 1000.0) : 0;
    stress.latency = summary_of(std::move(latencies_));
  }

  // The pool's statistics over every repetition, with its wait percentiles.
  void record_pool(const LeasePool& leases) {
    PoolStats stats = leases.stats();
    const SampleReservoir waits = leases.waits();
    stats.wait = summary_of(waits.values());
    stats.wait.max_ms = waits.max();
    result_.stress.pool = stats;
  }

  const std::string server_dsn_;
  const ScenarioInfo& info_;
  Scenario& scenario_;
  const RunSettings& settings_;
  ProgressReporter& progress_;
  ScenarioResult& result_;
  const Knobs& knobs_;
  const std::optional<long> planned_;  // transactions, all repetitions (none in duration mode)
  std::vector<Invariant> invariants_;
  std::vector<double> latencies_;      // every transaction's, every repetition
  long ended_before_ = 0;              // transactions ended in earlier repetitions
  std::chrono::duration<double> timeout_{0};
  Clock::time_point deadline_ = Clock::time_point::max();
};

}  // namespace

void run_stress(const Server& server, const ScenarioInfo& info, Scenario& scenario, const RunSettings& settings,
                ProgressReporter& progress, ScenarioResult& result) {
  StressRun(server, info, scenario, settings, progress, result).run();
}

}  // namespace pgrace::detail
