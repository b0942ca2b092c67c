#pragma once
// The database a spec file runs in: empty (a copy of template0, since the
// spec's setup makes its tables) and set up as pg_regress sets up the
// databases of PostgreSQL's own isolation tests, so that their expected
// output applies: lc_messages, lc_monetary, lc_numeric and lc_time 'C',
// bytea_output 'hex', timezone_abbreviations 'Default', and the timezone
// (PST8PDT) and DateStyle (Postgres, MDY) that pg_regress gives its clients.
// Internal to pgrace.

#include <string>

#include "server/database.hpp"

namespace pgrace::spec {

class SpecDatabase {
 public:
  // Creates it on the server of `maintenance_dsn`. Dropped as
  // detail::OwnedDatabase says (destructor, drop(), Ctrl-C). Throws
  // pgrace::Error (infrastructure) naming the privilege that is missing or
  // the server's message.
  explicit SpecDatabase(const std::string& maintenance_dsn);

  // A connection string for it.
  const std::string& dsn() const { return dsn_; }
  // Drops it now; idempotent, never throws. Close its connections first.
  void drop() noexcept { database_.drop(); }

 private:
  detail::OwnedDatabase database_;
  std::string dsn_;
};

}  // namespace pgrace::spec
