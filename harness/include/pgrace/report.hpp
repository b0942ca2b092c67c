#pragma once
// Reports of a run: one JSON document (schema: reports/pgrace-report.schema.json),
// JUnit XML for CI, and a short summary for the terminal. None of them ever
// contains a password.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pgrace/runner.hpp"
#include "pgrace/server.hpp"

namespace pgrace {

inline constexpr int kReportSchemaVersion = 1;

struct RunReport {
  std::string tool_version;
  std::string started_at;  // ISO 8601, UTC
  double wall_ms = 0;
  std::string server_source;   // "ephemeral" or "dsn"
  std::string server_version;
  std::string server_dsn;      // redacted
  ProvisionTimings provision;
  std::uint64_t seed = 0;
  int repeat = 1;
  std::vector<ScenarioResult> scenarios;
  int exit_code = 0;
};

// 0 when every scenario matched its expectation, else 1.
int exit_code_of(const std::vector<ScenarioResult>& results);

nlohmann::json to_json(const ScenarioResult& result);
nlohmann::json to_json(const RunReport& report);

// JUnit XML: one testsuite "pgrace", one testcase per scenario; a mismatch is
// a <failure>, a verdict "error" an <error>.
std::string to_junit(const RunReport& report);

// A few lines per scenario for the terminal.
std::string summary_text(const ScenarioResult& result);

// Interleave mode: a schedule as numbered steps with their SQL and outcomes,
// for replaying by hand in psql (one terminal per session).
std::string schedule_text(const ScheduleResult& schedule);

nlohmann::json to_json(const ScheduleResult& schedule);

// Checks that a report can be written to `path` (creating missing parent
// directories), so that a run fails before it starts rather than after.
// Throws pgrace::Error (usage) naming the path.
void check_writable(const std::string& path);

// Writes `content` to `path` via a temporary file and rename, so a reader
// never sees half a report. Creates missing parent directories. Throws
// pgrace::Error (usage) naming the path if it cannot be written.
void write_file_atomically(const std::string& path, const std::string& content);

// The current time as ISO 8601 UTC ("2026-11-25T11:07:00Z").
std::string utc_now();

}  // namespace pgrace
