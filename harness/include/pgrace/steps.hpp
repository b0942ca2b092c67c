#pragma once
// Interleave mode: a scenario made of sessions, each a list of named steps,
// run one step at a time in a chosen order (a schedule). A step that waits
// on a lock held by another session is detected and the schedule moves on.

#include <functional>
#include <map>
#include <optional>
#include <pqxx/connection>
#include <pqxx/result>
#include <string>
#include <vector>

namespace pgrace {

// What a C++ step sees. Not thread-safe: it belongs to its session.
class StepContext {
 public:
  StepContext(pqxx::connection& connection, std::map<std::string, std::string>& observations)
      : connection_(connection), observations_(observations) {}
  // Runs `sql` on this session's connection, inside whatever transaction the
  // session has open (steps manage BEGIN/COMMIT themselves).
  pqxx::result exec(const std::string& sql);
  // What an earlier step observed (see Step), e.g. observed("r1") == "10".
  // Throws std::logic_error if that step has not run.
  const std::string& observed(const std::string& step) const;
  // Records what this step observed, for later steps and for invariants.
  void observe(const std::string& key, const std::string& value) { observations_[key] = value; }
  // Every statement exec() sent, "; "-joined (shown in reports, for replay).
  const std::string& sent() const { return sent_; }

 private:
  pqxx::connection& connection_;
  std::map<std::string, std::string>& observations_;
  std::string sent_;
};

struct Step {
  std::string name;                          // unique across the scenario's sessions, e.g. "r1"
  std::string sql;                           // run as is; its rows become the observation
  std::function<void(StepContext&)> action;  // instead of sql: C++ that may read earlier observations
};

// A step running `sql`. Its observation is its rows, "v1,v2;v1,v2" ("" for none).
inline Step sql_step(std::string name, std::string sql) { return Step{std::move(name), std::move(sql), {}}; }
// A step running C++.
inline Step cpp_step(std::string name, std::function<void(StepContext&)> action) {
  return Step{std::move(name), "", std::move(action)};
}

struct Session {
  std::string name;
  // Run on the session's connection before each schedule (e.g. "BEGIN"); the
  // session's isolation level is the run's.
  std::string setup_sql;
  std::vector<Step> steps;
};

// Checks a schedule given by name (e.g. from --schedule) against `sessions`:
// every name is a step of one of them, and each session's steps appear in
// their declared order, once each (steps may be left out: their session's
// open transaction is rolled back when the schedule ends). Throws
// pgrace::Error (usage) naming the first problem.
void check_schedule(const std::vector<Session>& sessions, const std::vector<std::string>& schedule);

}  // namespace pgrace
