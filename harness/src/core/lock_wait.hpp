#pragma once
// The lock-wait probe every step-by-step engine uses (interleave schedules,
// statement-level exploration, isolation specs), as PostgreSQL's isolation
// tester asks it: from a control connection, whether a backend waits for a
// lock (or a safe snapshot) that one of the other sessions holds. Internal
// to pgrace.

#include <pqxx/connection>
#include <string>
#include <vector>

namespace pgrace::detail {

// The probe's SQL: $1 the waiting backend's pid, $2 the pids of the sessions
// that may block it, as an int[] literal (see pid_array()).
inline constexpr const char* kLockWaitQuery = "SELECT pg_catalog.pg_isolation_test_session_is_blocked($1, $2::int[])";

// `pids` as an int[] literal: "{101,102}".
std::string pid_array(const std::vector<int>& pids);

// Whether backend `pid` waits for a lock or a safe snapshot held by one of
// `others`, asked on `control` (which must be idle, not in a transaction
// block). Throws what libpqxx throws when `control` breaks. Not thread-safe
// for one `control`.
bool is_blocked(pqxx::connection& control, int pid, const std::vector<int>& others);

// The backends of `others` that backend `pid` waits for (a lock or a safe
// snapshot), as pg_blocking_pids() and pg_safe_snapshot_blocking_pids() say
// now; asked on `control` as is_blocked() is.
std::vector<int> blockers_of(pqxx::connection& control, int pid, const std::vector<int>& others);

}  // namespace pgrace::detail
