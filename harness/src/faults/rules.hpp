#pragma once
// How fault rules (pgrace/faults.hpp) apply to the requests the wire proxy
// frames: which requests a rule targets, where a seeded rule fires, and
// what a dropped connection means for the transaction. Pure logic.
// Internal to pgrace.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pgrace/faults.hpp"
#include "pgrace/outcome.hpp"
#include "wire/request.hpp"

namespace pgrace::detail {

// Where a request stands in a stress run: its worker, the iteration, its
// rank among the requests the worker sent in that iteration that a rule
// targets (from 0, retries included: with only `commit` rules, the n-th
// COMMIT), and the repetition (from 0), so that each repetition draws its
// own places.
struct FaultPlace {
  int worker = 0;
  long iteration = 0;
  int rank = 0;
  int repetition = 0;
};

// Whether one of the statements of `sql` is a COMMIT: COMMIT or END, any
// case, after leading blanks and comments, followed by nothing or by WORK,
// TRANSACTION, AND [NO] CHAIN or PREPARED '...'. Statements are split at
// each ';' outside comments, quoted strings ('...', E'...'), quoted
// identifiers and dollar-quoted strings ($$...$$, $tag$...$tag$), so the
// END of a DO block's body is not one.
bool is_commit(const std::string& sql);

// Whether one of the statements of `sql` ends its transaction block without
// committing: ROLLBACK or ABORT, alone or with WORK, TRANSACTION or AND [NO]
// CHAIN (not ROLLBACK TO SAVEPOINT, not ROLLBACK PREPARED); split as for
// is_commit().
bool is_rollback(const std::string& sql);

// Whether `rule` may hit `request`: it executes something, and it is a
// COMMIT when the rule targets commits.
bool targets(const FaultRule& rule, const WireRequest& request);

// The first of `rules` that fires for `request` at `place`: each rule that
// targets it fires with its probability, drawn from (seed, the rule's index,
// place), the same on every run.
std::optional<FaultRule> draw_fault(const std::vector<FaultRule>& rules, std::uint64_t seed, const FaultPlace& place,
                                    const WireRequest& request);

// The proxy's fault for a rule that fired.
Fault fault_of(const FaultRule& rule);

// How a transaction ends whose connection pgrace dropped at `lost` (a
// request recorded with fault drop_before_send or drop_reply), from the
// client's side: indeterminate when it reached the server and may have
// committed (its reply was dropped, and it holds a COMMIT, or its reply's
// status was idle and it was not a ROLLBACK), connection_dropped otherwise.
Outcome dropped_outcome(const WireRequest& lost);

}  // namespace pgrace::detail
