#include "core/session_setup.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <pqxx/nontransaction>

namespace pgrace::detail {

std::string prepare_session(pqxx::connection& connection, Isolation isolation, const std::string& name,
                            double statement_timeout_s, std::chrono::milliseconds deadlock_timeout) {
  {
    pqxx::nontransaction tx(connection);
    tx.exec(std::string("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL ") + to_sql(isolation));
    const long timeout_ms = std::lround(statement_timeout_s * 1000);
    tx.exec("SET statement_timeout = " + std::to_string(statement_timeout_s > 0 ? std::max(timeout_ms, 1L) : 0L));
    tx.exec("SET application_name = " + tx.quote(name));
  }
  try {
    pqxx::nontransaction tx(connection);
    tx.exec("SET deadlock_timeout = '" + std::to_string(deadlock_timeout.count()) + "ms'");
  } catch (const pqxx::sql_error&) {
    // Not a superuser: keep the server's value.
  }
  pqxx::nontransaction tx(connection);
  return tx.exec("SHOW deadlock_timeout")[0][0].as<std::string>();
}

std::optional<std::chrono::milliseconds> parse_show_duration(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 9) return std::nullopt;
  const long value = std::stol(text.substr(0, digits));
  const std::string unit = text.substr(digits);
  if (unit == "ms") return std::chrono::milliseconds(value);
  if (unit == "s") return std::chrono::seconds(value);
  if (unit == "min") return std::chrono::minutes(value);
  if (unit == "h") return std::chrono::hours(value);
  return std::nullopt;
}

std::string worker_session_name(int w) { return "pgrace-worker-" + std::to_string(w); }

}  // namespace pgrace::detail
