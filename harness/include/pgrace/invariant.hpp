#pragma once
// Invariants: what must be true of the database (and of the run) after a
// scenario's concurrent work. A violation is data, never an abort: the name,
// a reason and the witnesses (the offending rows or values).

#include <functional>
#include <map>
#include <optional>
#include <pqxx/transaction>
#include <set>
#include <string>
#include <vector>

#include "pgrace/outcome.hpp"

namespace pgrace {

// What a C++ predicate sees: a transaction on the scenario's
// database and the outcome counts of the run so far.
struct CheckContext {
  pqxx::transaction_base& tx;  // read only; during the run, an autocommit one
  const std::map<OutcomeClass, long>& outcomes;
  long transactions;  // threads x iterations planned (0 in duration mode and interleave mode)
  // Interleave mode: what each step observed (step name -> its rows as text,
  // or "error:SQLSTATE" if it failed). Null in stress mode.
  const std::map<std::string, std::string>* observations = nullptr;
  // Interleave mode, while shrinking a reproducer: observed() records here
  // the steps it was asked about that did not run, so that a schedule whose
  // verdict rests on a missing observation is not taken for a reproducer.
  std::set<std::string>* missing_observations = nullptr;
  long count(OutcomeClass kind) const {
    auto it = outcomes.find(kind);
    return it == outcomes.end() ? 0 : it->second;
  }
  // The observation of `step` ("" if it did not run).
  std::string observed(const std::string& step) const {
    if (!observations) return "";
    auto it = observations->find(step);
    if (it != observations->end()) return it->second;
    if (missing_observations) missing_observations->insert(step);
    return "";
  }
};

// A predicate returns the witnesses of a violation; empty means it held.
using Predicate = std::function<std::vector<std::string>(const CheckContext&)>;

// How an invariant is checked (see no_rows(), equals(), predicate(),
// uses_index()).
enum class InvariantKind { no_rows, equals, predicate, uses_index };

// "no_rows", "equals", "predicate" or "uses_index" (the names used in reports).
const char* to_string(InvariantKind kind);

struct Invariant {
  std::string name;  // e.g. "total balance is conserved"
  InvariantKind kind = InvariantKind::no_rows;
  std::string sql;                    // no_rows, equals and uses_index
  std::string expected;               // equals: the value the query must return, as text
  Predicate predicate;                // predicate
  bool during_run = true;             // also checked while the workers run (first-violation time)
  std::string table{};                // uses_index: the table the query must read through an index
  std::vector<std::string> params{};  // uses_index: sample values of the query's $1, $2, ...
};

// Holds when `sql` returns no rows; each returned row is a witness.
Invariant no_rows(std::string name, std::string sql);

// Holds when `sql` returns one row whose first column, as text, is `expected`
// (NULL reads as "NULL").
Invariant equals(std::string name, std::string sql, std::string expected);

// Holds when `check` returns no witnesses. With `during_run` false it is only
// checked after the run (use that for counts that are final only at the end).
Invariant predicate(std::string name, Predicate check, bool during_run = true);

// Holds when PostgreSQL *could* read `table` through an index to run `sql`
// (a query, or an UPDATE/DELETE; `params` are sample values of its $1, $2,
// ...). With the few rows a test table holds, PostgreSQL scans every table
// sequentially whatever indexes exist, so the real plan says nothing about
// production. The check therefore plans the query (EXPLAIN, nothing runs)
// with seq scans disabled (plan_settings() below, inside a subtransaction
// that is rolled back): a scan of `table` that is still not served by an
// index means no usable index exists. It holds when every scan of `table`
// (or of its partitions and inheritance children) in the plan finds its
// rows through an index: an Index Scan or Index Only Scan, or a Bitmap Heap
// Scan's bitmap index scans, each with an index condition that, for a
// btree, constrains the index's leading column; or a scan of a partial
// index (it holds only the rows its predicate selects); or an index scan
// with neither condition nor filter that streams to a Limit (ORDER BY ...
// LIMIT n stops after n rows). It is violated by a Seq Scan, and by an
// index read whole: no index condition (only for its order, or to count
// every row), or a condition on a btree's later column only. The
// witnesses are the plan's paths to those scans, one line each. `table` may
// be schema-qualified. Checked after the run only (on the seeded database
// when the scenario has no concurrent work). Throws pgrace::Error (usage)
// when the query fails to plan, `table` does not exist, or the plan does not
// read `table` at all.
Invariant uses_index(std::string name, std::string sql, std::string table, std::vector<std::string> params = {});

// The planner settings uses_index() plans with, as "name = value" (also
// written into reports).
const std::vector<std::string>& plan_settings();

// Holds when no transaction ended with `kind` (e.g. deadlock): the witness
// says how many did.
Invariant no_outcome(std::string name, OutcomeClass kind);

// Checks `invariant` and returns its witnesses (empty: held), at most
// `max_witnesses` (plus a "... N more" line). Throws pgrace::Error (usage)
// naming the invariant when its SQL fails; a lost connection (also a
// terminated backend, SQLSTATE 08xxx or 57P0x) propagates as
// pqxx::broken_connection; a predicate's own exceptions propagate as they are.
std::vector<std::string> check_invariant(const Invariant& invariant, const CheckContext& context,
                                         std::size_t max_witnesses);

}  // namespace pgrace
