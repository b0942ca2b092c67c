#include "pgrace/connection.hpp"

#include "pgrace/dsn.hpp"
#include "pgrace/error.hpp"

namespace pgrace {

std::unique_ptr<pqxx::connection> connect(const std::string& dsn) {
  validate_dsn(dsn);
  try {
    return std::make_unique<pqxx::connection>(dsn);
  } catch (const std::exception& e) {
    std::string reason = scrub_secrets(e.what(), dsn);
    std::string one_line;  // libpq's messages span lines and indent with tabs
    for (char c : reason) {
      if (c == '\n' || c == '\t') c = ' ';
      if (c != ' ' || (!one_line.empty() && one_line.back() != ' ')) one_line += c;
    }
    while (!one_line.empty() && one_line.back() == ' ') one_line.pop_back();
    reason = one_line;
    throw infrastructure_error("cannot connect to " + redact_dsn(dsn) + ": " + reason +
                               " (check that the server is up and the DSN is right, or omit "
                               "--dsn to let pgrace start an ephemeral server)");
  }
}

}  // namespace pgrace
