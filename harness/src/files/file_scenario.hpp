#pragma once
// A scenario file made into a pgrace::Scenario: its schema, seed and
// invariants with the options substituted, and what its worker processes
// are started with. The run itself is files/process_run.hpp's. Internal to
// pgrace.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "files/scenario_file.hpp"
#include "pgrace/scenario.hpp"

namespace pgrace::files {

class FileScenario final : public Scenario {
 public:
  // Reads every option of `file` from `options` (given values override the
  // file's defaults) and substitutes ${name} in its SQL. Throws
  // pgrace::Error (usage, naming the file) for a ${name} that is no option
  // and for a worker or invariant program that is not found.
  FileScenario(std::shared_ptr<const ScenarioFile> file, Options& options);

  std::string schema() const override { return schema_; }
  void seed(pqxx::work& tx) override;
  // Statement-level exploration (explore --workers N): runs one worker
  // process with PGRACE_ITERATIONS=1 and PGRACE_SEED its number (1..N),
  // connecting where w.connection() does (the proxy) as that worker, and
  // waits for it. Returns committed when it exits 0 (the invariants judge
  // what it did); throws std::runtime_error naming the worker, its exit and
  // the tail of its output otherwise.
  TxResult transaction(Worker& worker) override;
  std::vector<Invariant> invariants() const override;

  const ScenarioFile& file() const { return *file_; }
  // What worker `w` (0-based) connecting through `proxied_dsn` is started
  // with besides pgrace's environment: DATABASE_URL, the PG* variables,
  // PGRACE_WORKER, PGRACE_ITERATIONS, PGRACE_SEED and PGRACE_OPTION_*.
  std::map<std::string, std::string> environment(const std::string& proxied_dsn, int w, long iterations,
                                                 std::uint64_t seed) const;
  // The options in force, by name.
  const std::map<std::string, std::string>& options() const { return options_; }
  // The URL of the scenario's database (not through the proxy) that a
  // command invariant is given as DATABASE_URL; set by the run before it
  // checks. Not thread-safe.
  void set_database_url(std::string url) { database_url_ = std::move(url); }

 private:
  std::string substituted(const std::string& text, const std::string& key) const;
  Invariant invariant_of(const FileInvariant& invariant) const;

  std::shared_ptr<const ScenarioFile> file_;
  std::map<std::string, std::string> options_;
  std::string schema_;
  std::string seed_;
  std::vector<FileInvariant> checks_;  // substituted
  std::string database_url_;
};

// The definition that makes FileScenarios of `file`: info from its name,
// description, expectation and [workers] (threads = count, iterations,
// sync, isolation), its source_file the file.
ScenarioDefinition definition_of(std::shared_ptr<const ScenarioFile> file);

}  // namespace pgrace::files
