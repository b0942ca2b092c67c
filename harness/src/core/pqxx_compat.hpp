#pragma once
// What pgrace uses that differs between libpqxx 6.4 (Debian 12) and 7.x
// (Ubuntu 24.04: 7.8, Debian 13: 7.10), in one place; the rest of the code is
// the same for both.
//
// Not here because it needs no version check: in 7 the transaction_rollback
// family (serialization_failure, deadlock_detected, ...) derives from sql_error
// and carries a SQLSTATE; in 6.4 it derives from pqxx::failure and carries
// none. core/outcome.cpp catches them most derived first, an order valid for both.

#include <pqxx/transaction_base>
#include <pqxx/version>
#include <string>
#include <vector>

// 7.6 deprecated prepare::make_dynamic_params for pqxx::params (7.5).
#define PGRACE_PQXX_HAS_PARAMS (PQXX_VERSION_MAJOR > 7 || (PQXX_VERSION_MAJOR == 7 && PQXX_VERSION_MINOR >= 6))
#if PGRACE_PQXX_HAS_PARAMS
#include <pqxx/params>
#else
#include <pqxx/prepared_statement>
#endif

namespace pgrace::detail {

// Runs `sql` in `tx` with `params` as its $1, $2, ... (text values). Throws
// what tx.exec_params throws.
inline pqxx::result exec_params(pqxx::transaction_base& tx, const std::string& sql,
                                const std::vector<std::string>& params) {
#if PGRACE_PQXX_HAS_PARAMS
  pqxx::params list;
  for (const auto& value : params) list.append(value);
  return tx.exec_params(sql, list);
#else
  return tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params));
#endif
}

// An exception of libpqxx's transaction_rollback family (E is
// serialization_failure, deadlock_detected, statement_completion_unknown, ...)
// with the message `what` and no SQLSTATE, as libpqxx 6.4 throws them. For
// tests of outcome classification.
template <typename E>
E rollback_error_without_sqlstate(const std::string& what) {
#if PQXX_VERSION_MAJOR >= 7
  return E{what, ""};  // (message, query)
#else
  return E{what};
#endif
}

}  // namespace pgrace::detail
