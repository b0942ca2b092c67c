#include "files/process_run.hpp"

#include <pqxx/nontransaction>
#include <pqxx/transaction>

#include "core/judge.hpp"
#include "core/run_shared.hpp"
#include "core/session_setup.hpp"
#include "faults/gate.hpp"
#include "files/database_url.hpp"
#include "files/process_gate.hpp"
#include "files/worker_processes.hpp"
#include "pgrace/dsn.hpp"
#include "server/database.hpp"
#include "stress/check.hpp"
#include "stress/latency.hpp"
#include "util/text.hpp"
#include "wire/proxy.hpp"

namespace pgrace::files {
namespace {

using Clock = std::chrono::steady_clock;

// The planned time of a worker process's start and of each transaction, for the default timeout.
constexpr double kPlannedStartS = 1.0;
constexpr double kPlannedSecondsPerIteration = 0.1;
// How long a transaction waits at the barrier for the workers that have not come.
constexpr std::chrono::milliseconds kHoldLimit{1000};

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// "worker 2 (python3 buy.py) exited with status 1", or nullopt when it exited 0.
std::optional<std::string> worker_failure(const FileScenario& scenario, const WorkerExit& exit, int w) {
  if (exit.exited && exit.code == 0) return std::nullopt;
  std::string text = "worker " + std::to_string(w + 1) + " (" + detail::joined(scenario.file().command, " ") + ") ";
  text += !exit.exited    ? "was still running"
          : exit.signaled ? "was killed by signal " + std::to_string(exit.code - 128)
                          : "exited with status " + std::to_string(exit.code);
  return text + (exit.output_tail.empty() ? ", printing nothing" : "; its output ended: " + exit.output_tail);
}

class ProcessRun {
 public:
  ProcessRun(const Server& server, const ScenarioInfo& info, FileScenario& scenario, const RunSettings& settings,
             detail::ProgressReporter& progress, ScenarioResult& result)
      : server_dsn_(server.dsn()),
        info_(info),
        scenario_(scenario),
        settings_(settings),
        progress_(progress),
        result_(result),
        knobs_(result.knobs) {}

  void run() {
    check_processes_runnable(info_, knobs_, settings_);
    invariants_ = detail::call_scenario(info_, "invariants()", server_dsn_, [&] { return scenario_.invariants(); });
    result_.invariants = detail::invariant_entries(invariants_);
    auto phase_start = Clock::now();
    detail::ScenarioDatabase database(server_dsn_, scenario_.schema(), info_.name);
    configure(database);
    scenario_.set_database_url(database_url(database.dsn(), "pgrace-check"));
    int kept = 0;
    {
      pqxx::connection control(database.dsn());
      result_.deadlock_timeout = pqxx::nontransaction(control).exec1("SHOW deadlock_timeout")[0].c_str();
      result_.phases.setup_ms = ms_since(phase_start);
      const double planned_s =
          settings_.repeat * (kPlannedStartS + kPlannedSecondsPerIteration * static_cast<double>(knobs_.iterations));
      timeout_ = detail::run_timeout(settings_, planned_s);
      deadline_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout_);
      for (int r = 0; r < settings_.repeat && result_.error.empty() && !kept; ++r)
        if (repetition(r, control, database) && settings_.keep) kept = r + 1;
      phase_start = Clock::now();
    }
    if (kept) {
      database.keep();
      result_.kept = KeptDatabase{database.name(), "after repetition " + std::to_string(kept) +
                                                       ", the first violating one (the run stopped there)"};
    } else {
      database.drop();
    }
    result_.phases.teardown_ms = ms_since(phase_start);
    long ended = 0;
    for (const auto& [kind, n] : result_.outcomes) ended += n;
    if (result_.phases.run_ms > 0) result_.stress.throughput_tps = ended / (result_.phases.run_ms / 1000.0);
    result_.stress.latency = detail::summary_of(std::move(latencies_));
  }

 private:
  // The workers' sessions: the scenario's isolation level, and a short
  // deadlock_timeout where pgrace may set it (superuser), as for C++ workers.
  void configure(const detail::ScenarioDatabase& database) {
    pqxx::connection owner(server_dsn_);
    pqxx::nontransaction tx(owner);
    const std::string name = tx.quote_name(database.name());
    tx.exec0("ALTER DATABASE " + name + " SET default_transaction_isolation = " + tx.quote(to_sql(knobs_.isolation)));
    if (tx.exec1("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")[0].as<bool>())
      tx.exec0("ALTER DATABASE " + name + " SET deadlock_timeout = '10ms'");
  }

  // Repetition `r`: reset, run, check. Returns whether an invariant was violated.
  bool repetition(int r, pqxx::connection& control, detail::ScenarioDatabase& database) {
    auto phase_start = Clock::now();
    detail::reset_state(control, scenario_, info_, server_dsn_);
    result_.phases.reset_ms += ms_since(phase_start);
    progress_.offer(ProgressUnit::transactions, ended_, planned_transactions(), result_.stress.violating_runs, r,
                    settings_.repeat);

    // --fault: placed per worker over the whole repetition (its requests ranked as one iteration's).
    std::optional<detail::FaultGate> faults;
    if (!knobs_.faults.empty()) {
      faults.emplace(knobs_.faults, result_.seed, knobs_.threads);
      for (int w = 0; w < knobs_.threads; ++w) faults->begin_iteration(w, r, 0);
    }
    ProcessGate gate(knobs_.threads, knobs_.sync, kHoldLimit, faults ? &*faults : nullptr);
    detail::WireProxy proxy(database.dsn(), &gate);
    const std::string proxied = proxy.proxied_dsn(database.dsn());
    const auto released = Clock::now();
    bool finished = false;
    {
      WorkerProcesses workers(scenario_.file().command, scenario_.file().folder, knobs_.threads, [&](int w) {
        return scenario_.environment(proxied, w, knobs_.iterations, worker_seed(w, r));
      });
      finished = workers.wait(deadline_, [&gate](int w) { gate.exited(w); });
      for (int w = 0; w < knobs_.threads; ++w) {
        gate.exited(w);
        if (!finished || !result_.error.empty()) continue;
        if (auto failure = worker_failure(scenario_, workers.exits()[w], w))
          result_.error = scrub_secrets(*failure + " (repetition " + std::to_string(r + 1) + ")", server_dsn_);
      }
    }  // no worker runs past here
    proxy.stop();
    const double run_ms = ms_since(released);
    result_.phases.run_ms += run_ms;
    ++result_.stress.repetitions;
    const WireOutcomes seen = gate.outcomes();
    record(seen);
    if (faults)
      for (const auto& [kind, n] : faults->injected()) result_.stress.faults[kind] += n;
    if (!finished) {
      result_.error = "timed out after " + detail::timeout_text(settings_, timeout_) + " in repetition " +
                      std::to_string(r + 1) + ": the worker processes were still running and were killed";
      return false;
    }
    phase_start = Clock::now();
    const bool violated = check(control, seen, run_ms);
    result_.phases.check_ms += ms_since(phase_start);
    if (result_.error.empty() && !seen.first_code_error.empty())
      result_.error = detail::code_errors_error(info_, result_.sqlstates,
                                                seen.first_code_error + " (repetition " + std::to_string(r + 1) + ")");
    if (result_.error.empty())
      result_.error =
          detail::stress::lack_of_evidence(info_, seen.outcomes, seen.first_failure, r, settings_.repeat, violated);
    return violated;
  }

  // Every repetition's transactions, if each worker runs PGRACE_ITERATIONS of them.
  long planned_transactions() const { return long{knobs_.threads} * knobs_.iterations * settings_.repeat; }

  // Worker `w`'s PGRACE_SEED in repetition `r`: derived from the run's seed.
  std::uint64_t worker_seed(int w, int r) const {
    return result_.seed + 1000003ULL * static_cast<std::uint64_t>(r) + static_cast<std::uint64_t>(w) + 1;
  }

  void record(const WireOutcomes& seen) {
    for (const auto& [kind, n] : seen.outcomes) {
      ended_ += n;
      result_.outcomes[kind] += n;
      result_.attempts += n;
    }
    for (const auto& [state, n] : seen.sqlstates) result_.sqlstates[state] += n;
    latencies_.insert(latencies_.end(), seen.latencies_ms.begin(), seen.latencies_ms.end());
  }

  // Every invariant after the repetition; returns whether one was violated.
  bool check(pqxx::connection& control, const WireOutcomes& seen, double run_ms) {
    pqxx::work tx(control);
    const long planned = static_cast<long>(knobs_.threads) * knobs_.iterations;
    CheckContext context{tx, seen.outcomes, planned};
    bool violated = false;
    for (std::size_t i = 0; i < invariants_.size(); ++i) {
      const auto witnesses =
          detail::check_or_fail(invariants_[i], context, settings_.max_witnesses, "in the final check");
      if (witnesses.empty()) continue;
      if (detail::record_violation(result_.invariants[i], witnesses)) result_.invariants[i].first_violation_ms = run_ms;
      violated = true;
    }
    if (violated) {
      ++result_.stress.violating_runs;
      result_.stress.first_violation_ms.push_back(run_ms);
    }
    return violated;
  }

  const std::string server_dsn_;
  const ScenarioInfo& info_;
  FileScenario& scenario_;
  const RunSettings& settings_;
  detail::ProgressReporter& progress_;
  ScenarioResult& result_;
  const Knobs& knobs_;
  std::vector<Invariant> invariants_;
  std::vector<double> latencies_;  // every transaction's, every repetition
  long ended_ = 0;                 // transactions ended, every repetition so far
  std::chrono::duration<double> timeout_{0};
  Clock::time_point deadline_ = Clock::time_point::max();
};

}  // namespace

void check_processes_runnable(const ScenarioInfo& info, const Knobs& knobs, const RunSettings& settings) {
  if (!knobs.faults.empty() && settings.statement_workers)
    throw SettingError("faults", "does not reach the worker processes of scenario files in explore yet: run " +
                                     info.name + " with --fault instead");
  if (knobs.pool.size > 0)
    throw SettingError("pool_size", "has no effect on worker processes, which open their own connections: run " +
                                        info.name + " without --pool-size");
  if (knobs.duration_s)
    throw SettingError("duration_s",
                       "cannot bound worker processes, which run PGRACE_ITERATIONS transactions: use "
                       "--iterations");
}

void run_processes(const Server& server, const ScenarioInfo& info, FileScenario& scenario, const RunSettings& settings,
                   detail::ProgressReporter& progress, ScenarioResult& result) {
  ProcessRun(server, info, scenario, settings, progress, result).run();
}

}  // namespace pgrace::files
