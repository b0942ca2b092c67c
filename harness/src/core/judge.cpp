#include "core/judge.hpp"

#include <algorithm>

namespace pgrace::detail {

ScenarioResult new_result(const ScenarioInfo& info, const RunSettings& settings) {
  ScenarioResult result;
  result.info = info;
  result.knobs = apply_overrides(info.defaults, settings, info.name);
  result.seed = settings.seed;
  return result;
}

std::vector<InvariantResult> invariant_entries(const std::vector<Invariant>& invariants) {
  std::vector<InvariantResult> entries;
  for (const auto& invariant : invariants) {
    InvariantResult entry;
    entry.name = invariant.name;
    entry.kind = invariant.kind;
    if (invariant.kind == InvariantKind::uses_index) {
      entry.sql = invariant.sql;
      entry.params = invariant.params;
      entry.table = invariant.table;
    }
    entries.push_back(entry);
  }
  return entries;
}

bool record_violation(InvariantResult& entry, const std::vector<std::string>& witnesses) {
  ++entry.violated_runs;
  if (!entry.held) return false;
  entry.held = false;
  entry.witnesses = witnesses;
  return true;
}

std::set<std::string> violated_invariants(const ScenarioResult& result) {
  std::set<std::string> violated;
  for (const auto& invariant : result.invariants)
    if (!invariant.held) violated.insert(invariant.name);
  return violated;
}

std::string code_errors_error(const ScenarioInfo& info, const std::map<std::string, long>& sqlstates,
                              const std::string& first) {
  if (info.expects_code_errors || first.empty()) return "";
  long count = 0;
  std::string codes;
  for (const auto& [sqlstate, n] : sqlstates) {
    if (!is_code_error(sqlstate)) continue;
    count += n;
    codes += (codes.empty() ? "" : ", ") + sqlstate + " x" + std::to_string(n);
  }
  return std::to_string(count) + " attempt(s) failed with errors that concurrency never causes (" + codes +
         "): the first, " + first +
         "; fix the SQL or the code under test, or set expects_code_errors in the scenario's info() if they are "
         "part of it";
}

std::string forgotten_commits_error(long count, const std::string& first) {
  if (count == 0) return "";
  return std::to_string(count) + " transaction(s) returned TxResult::committed but were rolled back: the first, " +
         first + "; nothing they wrote was committed: call commit() before returning TxResult::committed";
}

void judge(ScenarioResult& result) {
  if (!result.error.empty()) {
    result.verdict = Verdict::error;
    result.matched = false;
    return;
  }
  const std::set<std::string> violated = violated_invariants(result);
  const std::set<std::string>& expected = result.info.expectation.violated;
  result.verdict = violated.empty() ? Verdict::held : Verdict::violated;
  const bool every_repetition =
      result.mode == Mode::interleave ||
      std::all_of(result.invariants.begin(), result.invariants.end(), [&](const InvariantResult& invariant) {
        return !expected.count(invariant.name) || invariant.violated_runs == result.stress.repetitions;
      });
  result.matched = result.exploration.statement_workers > 0 ? meets_explored_expectation(violated, expected)
                                                            : violated == expected && every_repetition;
  // A shard that saw no violation cannot tell whether the whole exploration
  // meets an expected one: another shard's part may hold it.
  if (result.exploration.shard && violated.empty()) result.matched = true;
}

}  // namespace pgrace::detail
