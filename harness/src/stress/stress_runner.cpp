#include "stress/stress_runner.hpp"

#include <algorithm>
#include <vector>

#include "core/judge.hpp"
#include "core/run_shared.hpp"
#include "core/session_setup.hpp"
#include "pgrace/dsn.hpp"
#include "server/connection_errors.hpp"
#include "server/database.hpp"
#include "stress/check.hpp"
#include "stress/connections.hpp"
#include "stress/latency.hpp"
#include "stress/repetition.hpp"
#include "stress/state.hpp"
#include "wire/request_history.hpp"

namespace pgrace::detail {
namespace {

using namespace stress;

// The planned time of a transaction in iteration mode, for the default timeout.
constexpr double kPlannedSecondsPerIteration = 0.1;
// How many of each worker's last requests a report keeps (Stress::requests).
constexpr std::size_t kRequestsPerWorker = 100;

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

// One scenario's stress run, phase by phase in the order of a scenario's
// life (see pgrace/scenario.hpp): setup (database, connections), then per
// repetition reset, run and check, then teardown. It records what it saw in
// the result; judge() gives the verdict.
class StressRun {
 public:
  StressRun(const Server& server, const ScenarioInfo& info, Scenario& scenario, const RunSettings& settings,
            ProgressReporter& progress, ScenarioResult& result)
      : server_dsn_(server.dsn()),
        info_(info),
        scenario_(scenario),
        settings_(settings),
        progress_(progress),
        result_(result),
        knobs_(result.knobs),
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
        for (int r = 0; r < settings_.repeat && result_.error.empty() && !kept_repetition_; ++r)
          if (!repetition(r, connections)) break;
      } catch (...) {
        record_statistics(connections);  // what the repetitions that ran measured stays in the report
        throw;
      }
      record_statistics(connections);
      phase_start = Clock::now();
    }  // connections close here (those of threads left running, when those end)
    if (kept_repetition_) {
      database.keep();
      result_.kept = KeptDatabase{database.name(), "after repetition " + std::to_string(kept_repetition_) +
                                                       ", the first violating one (the run stopped there)"};
    } else {
      database.drop();
    }
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
      rep->workers.push_back(std::make_unique<WorkerState>(connections.workers[i], connections.faults, connections.pool,
                                                           connections.leases, i, settings_.seed, r));
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
    const Failures failures =
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
    if (violated && settings_.keep) kept_repetition_ = r + 1;
    if (connections.faults && violated && !result_.stress.requests_repetition)
      record_requests(r, run.released, connections.faults->proxy);
    result_.phases.check_ms += ms_between(phase_start, Clock::now());
    if (result_.error.empty() && failures.forgotten_commits > 0)
      result_.error = forgotten_commits_error(failures.forgotten_commits, failures.first_forgotten_commit +
                                                                              " (repetition " + std::to_string(r + 1) + ")");
    if (result_.error.empty() && !failures.first_code_error.empty())
      result_.error = scrub_secrets(
          code_errors_error(info_, result_.sqlstates,
                            failures.first_code_error + " (repetition " + std::to_string(r + 1) + ")"),
          server_dsn_);
    if (result_.error.empty())
      result_.error = scrub_secrets(
          lack_of_evidence(info_, snapshot(rep.live), failures.first, r, settings_.repeat, violated), server_dsn_);
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
        const auto since = [released](Clock::time_point t) {
          return t == Clock::time_point{} ? 0 : ms_between(released, t);
        };
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
  std::vector<double> latencies_;  // every transaction's, every repetition
  long ended_before_ = 0;          // transactions ended in earlier repetitions
  int kept_repetition_ = 0;        // RunSettings::keep: the first violating repetition (from 1), whose state stays
  std::chrono::duration<double> timeout_{0};
  Clock::time_point deadline_ = Clock::time_point::max();
};

}  // namespace

void run_stress(const Server& server, const ScenarioInfo& info, Scenario& scenario, const RunSettings& settings,
                ProgressReporter& progress, ScenarioResult& result) {
  StressRun(server, info, scenario, settings, progress, result).run();
}

}  // namespace pgrace::detail
