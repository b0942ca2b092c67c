#pragma once
// Making and judging a ScenarioResult, the same way in both run modes:
// new_result() before the run, record_violation() each time a repetition
// (stress) or a schedule (interleave) is found violating an invariant, and
// judge() once, after the run. Internal to pgrace.

#include <map>
#include <set>
#include <string>
#include <vector>

#include "pgrace/result.hpp"
#include "pgrace/scenario.hpp"
#include "pgrace/settings.hpp"

namespace pgrace::detail {

// A result for `info` run with `settings`: knobs applied (throws
// pgrace::Error (usage) as apply_overrides() does), one held entry per
// invariant still to come (see invariant_entries()), mode stress, not yet
// judged.
ScenarioResult new_result(const ScenarioInfo& info, const RunSettings& settings);

// One held entry per invariant, for ScenarioResult::invariants.
std::vector<InvariantResult> invariant_entries(const std::vector<Invariant>& invariants);

// Counts one more repetition or schedule in which `entry`'s invariant was
// violated, with `witnesses`; keeps the witnesses of the first. Returns
// whether it is the first.
bool record_violation(InvariantResult& entry, const std::vector<std::string>& witnesses);

// The names of the invariants violated in at least one repetition or schedule.
std::set<std::string> violated_invariants(const ScenarioResult& result);

// The error of a run in which attempts failed with errors that concurrency
// never causes (is_code_error()), counted in `sqlstates`; `first` says
// where the first came from and its message. "" when there were none, or
// when `info` expects them (ScenarioInfo::expects_code_errors).
std::string code_errors_error(const ScenarioInfo& info, const std::map<std::string, long>& sqlstates,
                              const std::string& first);

// The error of a run in which `count` transactions returned
// TxResult::committed although none of their transactions committed and
// one rolled back (a forgotten commit()); `first` says where the first was.
// "" when `count` is 0.
std::string forgotten_commits_error(long count, const std::string& first);

// Sets `result.verdict` and `result.matched` from what the run recorded:
// verdict error (never matched) when result.error is set; else violated
// when some invariant was violated, held otherwise. It matches when the
// violated invariants are exactly the expected ones and, in stress mode,
// each expected one was violated in every repetition (in interleave mode,
// in some schedule); a statement-level exploration, when it meets them as
// meets_explored_expectation() says. One shard of an exploration
// (Exploration::shard) that violated nothing matches whatever was expected:
// an expected violation is up to the shard whose part holds it.
void judge(ScenarioResult& result);

}  // namespace pgrace::detail
