#pragma once
// The check behind uses_index(): plan a query with seq scans disabled and
// find the scans of a table that no index serves. Internal to pgrace.

#include <pqxx/transaction_base>
#include <string>
#include <vector>

#include "pgrace/invariant.hpp"

namespace pgrace::detail {

// The witnesses of `invariant` (kind uses_index) in `tx`, which must be a
// dbtransaction (the settings are set in a subtransaction that is rolled
// back): one line per scan of the table that is not served by an index,
// naming the plan's path to it. Empty: every scan of the table uses an
// index. Throws pgrace::Error (usage) when the table does not exist or the
// plan never reads it; the query's own SQL errors propagate as pqxx errors.
std::vector<std::string> unindexed_scans(pqxx::transaction_base& tx, const Invariant& invariant);

}  // namespace pgrace::detail
