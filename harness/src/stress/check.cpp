#include "stress/check.hpp"

#include <iomanip>
#include <sstream>

#include "core/judge.hpp"
#include "core/run_shared.hpp"
#include "pgrace/dsn.hpp"
#include "pgrace/error.hpp"
#include "server/connection_errors.hpp"
#include "util/text.hpp"

namespace pgrace::detail::stress {
namespace {

// The connection worker `i` lost: its own ("worker 0") or, when that is
// still open, a pooled one it leased ("pooled connection 2 (leased by worker 0)").
std::string lost_connection_name(const WorkerState& worker, int i, const LeasePool* leases) {
  const std::string name = "worker " + std::to_string(i);
  if (!leases || !worker.own_connection_open()) return name;
  for (const PooledConnection& p : leases->broken_connections())
    if (p.holder == i) return "pooled connection " + std::to_string(p.slot) + " (leased by " + name + ")";
  return name;
}

}  // namespace

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
    for (const auto& [kind, n] : counts)
      outcomes += (outcomes.empty() ? "" : ", ") + std::string(to_string(kind)) + "=" + std::to_string(n);
    std::string text = "no transaction committed " + where + " (" + std::to_string(ended) + " ended" +
                       (outcomes.empty() ? "" : ": " + outcomes);
    if (first_failure)
      text += "; first failure: " + (first_failure->sqlstate.empty() ? "" : first_failure->sqlstate + " ") +
              pgrace::one_line(first_failure->message, 200);
    const long faulted = count(OutcomeClass::indeterminate) + count(OutcomeClass::connection_dropped);
    if (ended > 0 && faulted == ended)
      return text +
             "): no commit was confirmed, the injected faults ended them all; lower the faults' "
             "probability (--fault), or set expects_no_commits in the scenario's info()";
    if (faulted > 0)
      return text + "): no commit was confirmed, the injected faults ended " + std::to_string(faulted) +
             " of them; lower the faults' probability (--fault), fix the scenario, or set expects_no_commits in "
             "its info() if committing nothing is intended";
    if (violated)
      return text +
             "): no transaction of the run committed, so none explains the violation; check the "
             "scenario's seed() and invariants";
    return text +
           "): the run tested nothing; fix the scenario, or set expects_no_commits in its info() if "
           "committing nothing is intended";
  }
  if (ended > 0 && static_cast<double>(committed) < info.min_committed_share * static_cast<double>(ended)) {
    std::ostringstream share;
    share << std::setprecision(3) << 100.0 * static_cast<double>(committed) / static_cast<double>(ended) << "%";
    return "only " + std::to_string(committed) + " of " + std::to_string(ended) + " transactions (" + share.str() +
           ") committed " + where +
           ", below the scenario's floor min_committed_share = " + number_text(info.min_committed_share) +
           ": too little was tested to judge";
  }
  return "";
}

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

// Adds what the workers that ended recorded to `result` and `latencies`;
// throws pgrace::Error (infrastructure) if one lost its connection, its own
// or a pooled one (unless pgrace ended it, past the timeout). Returns the
// first failed attempt.
Failures collect_workers(const Repetition& rep, const RepetitionRun& run, const ScenarioInfo& info,
                         const std::string& dsn, const LeasePool* leases, ScenarioResult& result,
                         std::vector<double>& latencies) {
  Failures failures;
  for (std::size_t i = 0; i < rep.workers.size(); ++i) {
    if (!run.joined[i]) continue;  // left running: its state is still its own
    const WorkerState& worker = *rep.workers[i];
    if (worker.fatal && worker.fatal->kind == OutcomeClass::connection_lost && !run.timed_out)
      throw lost_connection_error(lost_connection_name(worker, static_cast<int>(i), leases), info.name,
                                  worker.fatal->message, dsn);
    if (worker.fatal && worker.fatal->kind == OutcomeClass::scenario_error && result.error.empty())
      result.error = "transaction() threw: " + scrub_secrets(worker.fatal->message, dsn);
    if (!failures.first) failures.first = worker.first_failure;
    if (failures.first_code_error.empty() && worker.first_code_error)
      failures.first_code_error = "worker " + std::to_string(i) + ", " + *worker.first_code_error;
    failures.forgotten_commits += worker.forgotten_commits;
    if (failures.first_forgotten_commit.empty() && worker.first_forgotten_commit)
      failures.first_forgotten_commit = "worker " + std::to_string(i) + ", " + *worker.first_forgotten_commit;
    for (auto& [kind, n] : worker.outcomes) result.outcomes[kind] += n;
    for (auto& [state, n] : worker.sqlstates) result.sqlstates[state] += n;
    result.attempts += worker.attempts;
    result.stress.retries += worker.retries;
    latencies.insert(latencies.end(), worker.latencies_ms.begin(), worker.latencies_ms.end());
  }
  return failures;
}
}  // namespace pgrace::detail::stress
