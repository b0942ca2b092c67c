#pragma once
// How a transaction ended. Every attempt a worker makes gets exactly one
// outcome; database errors are classified by SQLSTATE.

#include <exception>
#include <string>

namespace pgrace {

enum class OutcomeClass {
  committed,              // the transaction committed
  rejected,               // the application declined (e.g. insufficient funds)
  serialization_failure,  // 40001
  deadlock,               // 40P01
  lock_not_available,     // 55P03 (lock_timeout, NOWAIT)
  cancelled,              // 57014 (statement_timeout, cancel)
  constraint_violation,   // 23xxx
  connection_lost,        // 08xxx but 08P01, 57P0x, broken connection: an infrastructure error
  other_sql_error,        // any other SQLSTATE
  pool_timeout,           // Pool::acquire() found no free connection in time (PoolTimeout)
  // Fault injection (pgrace/faults.hpp) dropped the worker's connection and
  // the exception reached pgrace:
  connection_dropped,  // before the transaction could commit: it did not
  indeterminate,       // with a COMMIT's reply lost: the client cannot know whether it committed
  scenario_error,      // a C++ exception from the scenario itself (a bug in it); keep it last
};

struct Outcome {
  OutcomeClass kind;
  std::string sqlstate;  // "" for committed, rejected, pool_timeout and scenario_error; 08006 for the two dropped ones
  std::string message;   // the error's first line; "" when there is none
};

// "committed", "serialization_failure", ... (the names used in reports).
const char* to_string(OutcomeClass kind);

// Classifies the exception a transaction attempt ended with. A database error
// is classified by its SQLSTATE whichever libpqxx type carries it; one that
// carries none (libpqxx 6.4's serialization_failure and deadlock_detected are
// not sql_errors) by the SQLSTATE its type stands for. A PoolTimeout is
// pool_timeout. Never throws.
Outcome classify(const std::exception_ptr& error);

// The class of a SQLSTATE ("40001" -> serialization_failure, "23505" ->
// constraint_violation, ...; unknown codes -> other_sql_error).
OutcomeClass classify_sqlstate(const std::string& sqlstate);

// Whether an error with this SQLSTATE is one that concurrency never causes,
// so a defect of the scenario or of the code under test: class 42 (syntax
// error or access rule violation: undefined table or column, insufficient
// privilege, ...), 0A (feature not supported), 26 (invalid SQL statement
// name: an unprepared statement), 34 (invalid cursor name), 3D (invalid
// catalog name) and 3F (invalid schema name).
bool is_code_error(const std::string& sqlstate);

// Whether a retry policy may retry this outcome (40001 and 40P01).
bool is_retryable(OutcomeClass kind);

}  // namespace pgrace
