#include "pgrace/runner.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/thread/barrier.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <pqxx/nontransaction>
#include <thread>

#include "database.hpp"
#include "interleave_runner.hpp"
#include "session_setup.hpp"
#include "pgrace/connection.hpp"
#include "pgrace/dsn.hpp"
#include "pgrace/error.hpp"
#include "shared_pool.hpp"

namespace pgrace {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kOutcomeClasses = static_cast<std::size_t>(OutcomeClass::scenario_error) + 1;

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// Outcome counts that workers bump and the monitor reads while they run.
using LiveCounts = std::array<std::atomic<long>, kOutcomeClasses>;

std::map<OutcomeClass, long> snapshot(const LiveCounts& counts) {
  std::map<OutcomeClass, long> out;
  for (std::size_t i = 0; i < counts.size(); ++i)
    if (long n = counts[i].load()) out[static_cast<OutcomeClass>(i)] = n;
  return out;
}

class WorkerState final : public Worker {
 public:
  WorkerState(pqxx::connection& connection, SharedPool* pool, int index, std::uint64_t seed, int repetition)
      : connection_(connection), pool_(pool), index_(index) {
    std::seed_seq sequence{seed, static_cast<std::uint64_t>(index), static_cast<std::uint64_t>(repetition)};
    rng_.seed(sequence);
  }
  pqxx::connection& connection() override { return connection_; }
  SharedPool& shared_pool() override {
    if (!pool_) throw std::logic_error("shared_pool() needs uses_shared_pool = true in the scenario's info()");
    return *pool_;
  }
  std::mt19937_64& rng() override { return rng_; }
  int index() const override { return index_; }
  long iteration() const override { return iteration_; }
  int attempt() const override { return attempt_; }

  long iteration_ = 0;
  int attempt_ = 0;
  // What this worker saw; read by the main thread after joining.
  std::vector<double> latencies_ms;
  std::map<OutcomeClass, long> outcomes;
  std::map<std::string, long> sqlstates;
  long attempts = 0;
  long retries = 0;
  std::optional<Outcome> fatal;  // connection lost or scenario bug: the run stops

 private:
  pqxx::connection& connection_;
  SharedPool* pool_;
  int index_;
  std::mt19937_64 rng_;
};

// Everything one repetition needs, shared by the workers, the monitor and
// the main thread.
struct Repetition {
  Repetition(Scenario& s, const Knobs& k, const std::vector<Invariant>& i, std::size_t w)
      : scenario(s), knobs(k), invariants(i), max_witnesses(w), first_seen(i.size()), first_witnesses(i.size()) {}
  Scenario& scenario;
  const Knobs& knobs;
  const std::vector<Invariant>& invariants;
  std::size_t max_witnesses;
  LiveCounts live{};
  std::atomic<long> ended{0};
  std::atomic<bool> abort{false};
  std::atomic<bool> stop{false};
  long rounds_started = 0;  // touched only by the barrier's completion function
  Clock::time_point deadline;
  // Monitor results: first time each invariant was seen violated (ms since release).
  std::vector<std::optional<double>> first_seen;
  std::vector<std::vector<std::string>> first_witnesses;
  std::exception_ptr monitor_failure;  // rethrown by the main thread
  std::mutex mutex;
  std::condition_variable changed;
  int finished_workers = 0;
  bool monitor_stop = false;
};

void run_one_transaction(Repetition& rep, WorkerState& worker, long iteration) {
  worker.iteration_ = iteration;
  const auto started = Clock::now();
  Outcome outcome{OutcomeClass::committed, "", ""};
  for (worker.attempt_ = 0;; ++worker.attempt_) {
    ++worker.attempts;
    try {
      TxResult result = rep.scenario.transaction(worker);
      outcome = {result == TxResult::committed ? OutcomeClass::committed : OutcomeClass::rejected, "", ""};
    } catch (...) {
      outcome = classify(std::current_exception());
      ++worker.sqlstates[outcome.sqlstate.empty() ? to_string(outcome.kind) : outcome.sqlstate];
    }
    if (!is_retryable(outcome.kind) || worker.attempt_ >= rep.knobs.retry.max_retries) break;
    ++worker.retries;
    const int shift = std::min(worker.attempt_, 6);
    std::this_thread::sleep_for(std::chrono::microseconds(
        worker.uniform(0, static_cast<long>(rep.knobs.retry.backoff_max_us) << shift) / 8));
  }
  worker.latencies_ms.push_back(ms_between(started, Clock::now()));
  ++worker.outcomes[outcome.kind];
  ++rep.live[static_cast<std::size_t>(outcome.kind)];
  ++rep.ended;
  if (outcome.kind == OutcomeClass::connection_lost || outcome.kind == OutcomeClass::scenario_error) {
    worker.fatal = outcome;
    rep.abort = true;
  }
}

void worker_main(Repetition& rep, WorkerState& worker, boost::barrier& start, boost::barrier& round) {
  start.wait();
  if (rep.knobs.sync == Sync::round) {
    for (long i = 0;; ++i) {
      round.wait();  // the completion function decides, once for all, whether to go on
      if (rep.stop) break;
      if (!worker.fatal) run_one_transaction(rep, worker, i);
    }
  } else {
    for (long i = 0; !rep.abort; ++i) {
      if (rep.knobs.duration_s ? Clock::now() >= rep.deadline : i >= rep.knobs.iterations) break;
      run_one_transaction(rep, worker, i);
    }
  }
  std::lock_guard lock(rep.mutex);
  ++rep.finished_workers;
  rep.changed.notify_all();
}

// Checks the during-run invariants until told to stop: every 5 ms at first,
// when races show up, then less often (up to every 10 ms).
void monitor_main(Repetition& rep, pqxx::connection& connection, Clock::time_point released) {
  try {
    for (auto poll = std::chrono::milliseconds(5);; poll = std::min(poll + std::chrono::milliseconds(1),
                                                                    std::chrono::milliseconds(10))) {
      {
        pqxx::nontransaction tx(connection);  // one round trip per invariant: it shares the server with the run
        const auto counts = snapshot(rep.live);
        CheckContext context{tx, counts, 0};
        for (std::size_t i = 0; i < rep.invariants.size(); ++i) {
          const Invariant& invariant = rep.invariants[i];
          if (!invariant.during_run || rep.first_seen[i]) continue;
          auto witnesses = check_invariant(invariant, context, rep.max_witnesses);
          if (!witnesses.empty()) {
            rep.first_seen[i] = ms_between(released, Clock::now());
            rep.first_witnesses[i] = std::move(witnesses);
          }
        }
      }
      std::unique_lock lock(rep.mutex);
      if (rep.changed.wait_for(lock, poll, [&] { return rep.monitor_stop; })) return;
    }
  } catch (...) {
    rep.monitor_failure = std::current_exception();
  }
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  std::size_t at = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(at, sorted.size() - 1)];
}

// The connections of one scenario run.
struct Connections {
  std::unique_ptr<pqxx::connection> control;
  std::unique_ptr<pqxx::connection> monitor;
  std::vector<std::unique_ptr<pqxx::connection>> workers;
  std::unique_ptr<detail::RoundRobinPool> pool;
};

Connections open_connections(const std::string& dsn, const ScenarioInfo& info, Scenario& scenario,
                             const Knobs& knobs, std::string& deadlock_timeout) {
  Connections c;
  c.control = connect(dsn);
  c.monitor = connect(dsn);
  detail::prepare_session(*c.monitor, Isolation::read_committed, "pgrace-monitor");
  for (int i = 0; i < knobs.threads; ++i) {
    c.workers.push_back(connect(dsn));
    deadlock_timeout = detail::prepare_session(*c.workers.back(), knobs.isolation, "pgrace-worker-" + std::to_string(i));
    scenario.prepare(*c.workers.back());
  }
  if (info.uses_shared_pool) {
    std::vector<std::unique_ptr<pqxx::connection>> pooled;
    for (int i = 0; i < knobs.threads; ++i) {
      pooled.push_back(connect(dsn));
      detail::prepare_session(*pooled.back(), knobs.isolation, "pgrace-pool-" + std::to_string(i));
      // A statement stuck behind a transaction that only a later statement
      // can end must give up rather than stall the round.
      pqxx::nontransaction tx(*pooled.back());
      tx.exec("SET lock_timeout = '20ms'");
    }
    c.pool = std::make_unique<detail::RoundRobinPool>(std::move(pooled));
  }
  return c;
}

}  // namespace

namespace detail {

ScenarioResult new_result(const ScenarioInfo& info, const RunSettings& settings,
                          const std::vector<Invariant>& invariants) {
  ScenarioResult result;
  result.info = info;
  result.knobs = apply_overrides(info.defaults, settings);
  result.seed = settings.seed;
  for (const auto& invariant : invariants) {
    InvariantResult entry;
    entry.name = invariant.name;
    entry.kind = invariant.kind;
    result.invariants.push_back(entry);
  }
  return result;
}

}  // namespace detail

Knobs apply_overrides(const Knobs& defaults, const RunSettings& settings) {
  Knobs k = defaults;
  if (settings.threads) k.threads = *settings.threads;
  if (settings.iterations) k.iterations = *settings.iterations, k.duration_s.reset();
  if (settings.duration_s) k.duration_s = *settings.duration_s;
  if (settings.isolation) k.isolation = *settings.isolation;
  if (settings.sync) k.sync = *settings.sync;
  if (settings.retries) k.retry.max_retries = *settings.retries;
  if (k.threads < 1 || k.threads > 256) throw usage_error("--threads must be between 1 and 256");
  if (k.iterations < 1) throw usage_error("--iterations must be at least 1");
  if (k.duration_s && !(*k.duration_s > 0)) throw usage_error("--duration must be positive (seconds)");
  if (k.retry.max_retries < 0) throw usage_error("--retries must be 0 or more");
  if (settings.repeat < 1) throw usage_error("--repeat must be at least 1");
  return k;
}

namespace {

ScenarioResult run_stress(const Server& server, const ScenarioInfo& info, Scenario& scenario,
                          const RunSettings& settings, const ProgressCallback& progress) {
  const std::vector<Invariant> invariants = scenario.invariants();
  ScenarioResult result = detail::new_result(info, settings, invariants);
  const Knobs& knobs = result.knobs;

  auto phase_start = Clock::now();
  detail::ScenarioDatabase database(server.dsn(), scenario.schema(), info.name);
  const std::string dsn = database.dsn();
  std::vector<double> latencies;
  bool all_matched = true;
  {
    Connections connections = open_connections(dsn, info, scenario, knobs, result.deadlock_timeout);
    result.phases.setup_ms = ms_between(phase_start, Clock::now());

    for (int r = 0; r < settings.repeat; ++r) {
      phase_start = Clock::now();
      try {
        detail::reset_tables(*connections.control, scenario);
      } catch (const pqxx::sql_error& e) {
        throw usage_error("seeding " + info.name + " failed: " + std::string(e.what()).substr(0, 300) +
                          " (fix the scenario's seed)");
      }
      result.phases.reset_ms += ms_between(phase_start, Clock::now());

      Repetition rep(scenario, knobs, invariants, settings.max_witnesses);
      std::vector<std::unique_ptr<WorkerState>> workers;
      for (int i = 0; i < knobs.threads; ++i)
        workers.push_back(std::make_unique<WorkerState>(*connections.workers[i], connections.pool.get(), i,
                                                        settings.seed, r));
      boost::barrier start(static_cast<unsigned>(knobs.threads + 1));
      boost::barrier round(static_cast<unsigned>(knobs.threads), [&rep]() -> unsigned {
        ++rep.rounds_started;
        const bool done = rep.knobs.duration_s ? Clock::now() >= rep.deadline
                                               : rep.rounds_started > rep.knobs.iterations;
        rep.stop = done || rep.abort;
        return static_cast<unsigned>(rep.knobs.threads);
      });
      std::vector<std::thread> threads;
      for (auto& worker : workers)
        threads.emplace_back(worker_main, std::ref(rep), std::ref(*worker), std::ref(start), std::ref(round));

      rep.deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(knobs.duration_s.value_or(0)));
      start.wait();
      const auto released = Clock::now();
      std::thread monitor(monitor_main, std::ref(rep), std::ref(*connections.monitor), released);
      {
        std::unique_lock lock(rep.mutex);
        auto last_report = released;
        while (!rep.changed.wait_for(lock, std::chrono::milliseconds(250),
                                     [&] { return rep.finished_workers == knobs.threads; })) {
          auto now = Clock::now();
          if (progress && now - released > std::chrono::seconds(2) && now - last_report >= std::chrono::seconds(1)) {
            last_report = now;
            lock.unlock();
            progress(info.name, r, rep.ended.load());
            lock.lock();
          }
        }
      }
      const auto finished = Clock::now();
      for (auto& t : threads) t.join();
      {
        std::lock_guard lock(rep.mutex);
        rep.monitor_stop = true;
        rep.changed.notify_all();
      }
      monitor.join();
      const double run_ms = ms_between(released, finished);
      result.phases.run_ms += run_ms;

      // Judge: the workers only recorded.
      for (auto& worker : workers) {
        if (worker->fatal && worker->fatal->kind == OutcomeClass::connection_lost)
          throw infrastructure_error("lost the connection to the server while running " + info.name + ": " +
                                     scrub_secrets(worker->fatal->message, server.dsn()));
        if (worker->fatal && result.error.empty())
          result.error = "the scenario threw: " + scrub_secrets(worker->fatal->message, server.dsn());
        for (auto& [kind, n] : worker->outcomes) result.outcomes[kind] += n;
        for (auto& [state, n] : worker->sqlstates) result.sqlstates[state] += n;
        result.attempts += worker->attempts;
        result.retries += worker->retries;
        latencies.insert(latencies.end(), worker->latencies_ms.begin(), worker->latencies_ms.end());
      }
      if (rep.monitor_failure) std::rethrow_exception(rep.monitor_failure);

      phase_start = Clock::now();
      if (connections.pool) connections.pool->roll_back_all();
      std::set<std::string> violated;
      std::optional<double> first_violation;
      {
        pqxx::work tx(*connections.control);
        const auto counts = snapshot(rep.live);
        const long planned = knobs.duration_s ? 0 : static_cast<long>(knobs.threads) * knobs.iterations;
        CheckContext context{tx, counts, planned};
        for (std::size_t i = 0; i < invariants.size(); ++i) {
          std::vector<std::string> witnesses = check_invariant(invariants[i], context, settings.max_witnesses);
          std::optional<double> seen = rep.first_seen[i];
          if (witnesses.empty() && !seen) continue;
          if (!seen) seen = run_ms;  // first noticed by the final check, after the run
          if (witnesses.empty()) witnesses = rep.first_witnesses[i];
          violated.insert(invariants[i].name);
          InvariantResult& out = result.invariants[i];
          if (out.held) {
            out.held = false;
            out.witnesses = witnesses;
            out.first_violation_ms = seen;
          }
          ++out.violated_runs;
          first_violation = std::min(first_violation.value_or(*seen), *seen);
        }
      }
      result.phases.check_ms += ms_between(phase_start, Clock::now());
      if (!violated.empty()) {
        ++result.violating_runs;
        result.first_violation_ms.push_back(*first_violation);
      }
      all_matched = all_matched && violated == info.expectation.violated;
      ++result.repetitions;
      if (!result.error.empty()) break;
    }
    phase_start = Clock::now();
  }  // connections close here
  database.drop();

  long ended = 0;
  for (auto& [kind, n] : result.outcomes) ended += n;
  result.throughput_tps = result.phases.run_ms > 0 ? ended / (result.phases.run_ms / 1000.0) : 0;
  std::sort(latencies.begin(), latencies.end());
  result.latency = {percentile(latencies, 0.5), percentile(latencies, 0.9), percentile(latencies, 0.99),
                    latencies.empty() ? 0 : latencies.back()};
  if (!result.error.empty()) {
    result.verdict = "error";
    result.matched = false;
  } else {
    result.verdict = result.violating_runs > 0 ? "violated" : "held";
    result.matched = all_matched;
  }
  result.phases.teardown_ms = ms_between(phase_start, Clock::now());
  return result;
}

}  // namespace

ScenarioResult run_scenario(const Server& server, const ScenarioInfo& info, Scenario& scenario,
                            const RunSettings& settings, const ProgressCallback& progress) {
  try {
    if (auto sessions = scenario.sessions(); !sessions.empty())
      return detail::run_interleaved(server, info, scenario, sessions, settings);
    return run_stress(server, info, scenario, settings, progress);
  } catch (const pqxx::broken_connection& e) {  // outside the workers: resetting, checking, ...
    throw infrastructure_error("lost the connection to the server while running " + info.name + ": " +
                               scrub_secrets(std::string(e.what()).substr(0, 300), server.dsn()));
  } catch (const pqxx::in_doubt_error& e) {
    throw infrastructure_error("lost the connection to the server while running " + info.name + ": " +
                               scrub_secrets(std::string(e.what()).substr(0, 300), server.dsn()));
  }
}

}  // namespace pgrace
