#include "pgrace/outcome.hpp"

#include <pqxx/except>

#include "pgrace/pool.hpp"

namespace pgrace {
namespace {

std::string first_line(const char* what) {
  std::string text = what ? what : "";
  if (auto newline = text.find('\n'); newline != std::string::npos) text.resize(newline);
  return text;
}

// A database error, classified by the SQLSTATE it carries or, when it carries
// none, by `implied`: the SQLSTATE its libpqxx type stands for. (In libpqxx 7
// the transaction_rollback family are sql_errors with a SQLSTATE; in 6.4 they
// are not, and carry none.)
Outcome database_error(const pqxx::failure& e, const std::string& implied) {
  const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e);
  const std::string state = sql && !sql->sqlstate().empty() ? sql->sqlstate() : implied;
  return {classify_sqlstate(state), state, first_line(e.what())};
}

}  // namespace

OutcomeClass classify_sqlstate(const std::string& state) {
  if (state == "40001") return OutcomeClass::serialization_failure;
  if (state == "40P01") return OutcomeClass::deadlock;
  if (state == "55P03") return OutcomeClass::lock_not_available;
  if (state == "57014") return OutcomeClass::cancelled;
  if (state.rfind("23", 0) == 0) return OutcomeClass::constraint_violation;
  // 08P01 (protocol_violation) is what the server answers, on a connection
  // that stays usable, to a Bind with the wrong number of parameters.
  if (state == "08P01") return OutcomeClass::other_sql_error;
  if (state.rfind("08", 0) == 0 || state.rfind("57P0", 0) == 0) return OutcomeClass::connection_lost;
  return OutcomeClass::other_sql_error;
}

bool is_code_error(const std::string& sqlstate) {
  if (sqlstate.size() != 5) return false;
  const std::string code_class = sqlstate.substr(0, 2);
  for (const char* c : {"42", "0A", "26", "34", "3D", "3F"})
    if (code_class == c) return true;
  return false;
}

const char* to_string(OutcomeClass kind) {
  switch (kind) {
    case OutcomeClass::committed:
      return "committed";
    case OutcomeClass::rejected:
      return "rejected";
    case OutcomeClass::serialization_failure:
      return "serialization_failure";
    case OutcomeClass::deadlock:
      return "deadlock";
    case OutcomeClass::lock_not_available:
      return "lock_not_available";
    case OutcomeClass::cancelled:
      return "cancelled";
    case OutcomeClass::constraint_violation:
      return "constraint_violation";
    case OutcomeClass::connection_lost:
      return "connection_lost";
    case OutcomeClass::other_sql_error:
      return "other_sql_error";
    case OutcomeClass::pool_timeout:
      return "pool_timeout";
    case OutcomeClass::connection_dropped:
      return "connection_dropped";
    case OutcomeClass::indeterminate:
      return "indeterminate";
    case OutcomeClass::scenario_error:
      return "scenario_error";
  }
  return "unknown";
}

Outcome classify(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const pqxx::serialization_failure& e) {  // most derived first: an order valid for 6.4 and 7
    return database_error(e, "40001");
  } catch (const pqxx::deadlock_detected& e) {
    return database_error(e, "40P01");
  } catch (const pqxx::statement_completion_unknown& e) {
    return {OutcomeClass::connection_lost, "08007", first_line(e.what())};
  } catch (const pqxx::transaction_rollback& e) {
    return database_error(e, "40000");
  } catch (const pqxx::sql_error& e) {  // before broken_connection: it carries a SQLSTATE
    return database_error(e, "");
  } catch (const pqxx::broken_connection& e) {
    // libpqxx throws a protocol violation (08P01: a Bind with the wrong
    // number of parameters) as a broken connection, though the server
    // reported it as a plain ERROR and the connection stays usable.
    if (std::string(e.what()).rfind("ERROR:", 0) == 0)
      return {OutcomeClass::other_sql_error, "08P01", first_line(e.what())};
    return {OutcomeClass::connection_lost, "08006", first_line(e.what())};
  } catch (const pqxx::in_doubt_error& e) {
    return {OutcomeClass::connection_lost, "08007", first_line(e.what())};
  } catch (const PoolTimeout& e) {
    return {OutcomeClass::pool_timeout, "", first_line(e.what())};
  } catch (const std::exception& e) {
    return {OutcomeClass::scenario_error, "", first_line(e.what())};
  } catch (...) {
    return {OutcomeClass::scenario_error, "", "unknown exception"};
  }
}

bool is_retryable(OutcomeClass kind) {
  return kind == OutcomeClass::serialization_failure || kind == OutcomeClass::deadlock;
}

}  // namespace pgrace
