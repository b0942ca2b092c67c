#include "files/file_scenario.hpp"

#include <cctype>
#include <pqxx/connection>
#include <stdexcept>

#include "core/session_setup.hpp"
#include "files/check_command.hpp"
#include "files/database_url.hpp"
#include "files/worker_processes.hpp"
#include "pgrace/error.hpp"
#include "util/text.hpp"

namespace pgrace::files {
namespace {

// How long an invariant's command may run.
constexpr int kCheckCommandTimeoutS = 60;
// How long one worker process of a statement-level execution may run.
constexpr std::chrono::seconds kWorkerTimeout{120};

}  // namespace

FileScenario::FileScenario(std::shared_ptr<const ScenarioFile> file, Options& options) : file_(std::move(file)) {
  for (const auto& [name, fallback] : file_->options) options_[name] = options.get_string(name, fallback);
  require_program(file_->command, file_->folder, file_->path.string(), "workers.command");
  schema_ = substituted(detail::joined(file_->schema, "\n"), "database.schema");
  seed_ = substituted(file_->seed, "database.seed");
  for (std::size_t i = 0; i < file_->invariants.size(); ++i) {
    const FileInvariant& check = file_->invariants[i];
    FileInvariant invariant = check;
    const std::string key = "invariant[" + std::to_string(i + 1) + "].";
    invariant.no_rows = substituted(check.no_rows, key + "no_rows");
    invariant.sql = substituted(check.sql, key + "sql");
    invariant.equals = substituted(check.equals, key + "equals");
    if (!check.command.empty()) require_program(check.command, file_->folder, file_->path.string(), key + "command");
    checks_.push_back(std::move(invariant));
  }
}

std::string FileScenario::substituted(const std::string& text, const std::string& key) const {
  std::string out;
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t open = text.find("${", at);
    if (open == std::string::npos) return out + text.substr(at);
    const std::size_t close = text.find('}', open);
    const std::string name = text.substr(open + 2, close == std::string::npos ? std::string::npos : close - open - 2);
    if (close == std::string::npos || !options_.count(name))
      throw usage_error(file_->path.string() + ": key '" + key + "' uses ${" + name +
                        (close == std::string::npos ? "" : "}") + ", which is no option: define " + name +
                        " under [options]");
    out += text.substr(at, open - at) + options_.at(name);
    at = close + 1;
  }
  return out;
}

std::map<std::string, std::string> FileScenario::environment(const std::string& proxied_dsn, int w, long iterations,
                                                             std::uint64_t seed) const {
  const std::string name = detail::worker_session_name(w);
  std::map<std::string, std::string> env = libpq_environment(proxied_dsn, name);
  env["DATABASE_URL"] = database_url(proxied_dsn, name);
  env["PGRACE_WORKER"] = std::to_string(w + 1);
  env["PGRACE_ITERATIONS"] = std::to_string(iterations);
  env["PGRACE_SEED"] = std::to_string(seed);
  for (const auto& [option, value] : options_) {
    std::string key = "PGRACE_OPTION_";
    for (char c : option) key += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    env[key] = value;
  }
  return env;
}

TxResult FileScenario::transaction(Worker& worker) {
  pqxx::connection& c = worker.connection();
  const std::string proxied = "host='" + std::string(c.hostname()) + "' port=" + c.port() + " user='" + c.username() +
                              "' dbname='" + c.dbname() + "'";
  // Not from w.rng(): whether a process reads PGRACE_SEED is unknown, and
  // input draws would multiply the executions of every file for nothing.
  auto env = environment(proxied, worker.index(), 1, static_cast<std::uint64_t>(worker.index()) + 1);
  if (file_->isolation) env["PGOPTIONS"] = std::string("-c default_transaction_isolation=") + to_sql(*file_->isolation);
  WorkerProcesses process(file_->command, file_->folder, 1, [&env](int) { return env; });
  const bool exited = process.wait(std::chrono::steady_clock::now() + kWorkerTimeout, [](int) {});
  const WorkerExit& exit = process.exits()[0];
  if (exited && exit.code == 0) return TxResult::committed;
  throw std::runtime_error("worker " + std::to_string(worker.index() + 1) + " (" + detail::joined(file_->command, " ") +
                           ") " +
                           (!exited ? "ran past " + std::to_string(kWorkerTimeout.count()) + " s"
                                    : "exited with status " + std::to_string(exit.code)) +
                           (exit.output_tail.empty() ? "" : "; its output ended: " + exit.output_tail));
}

void FileScenario::seed(pqxx::work& tx) {
  if (!seed_.empty()) tx.exec(seed_);
}

Invariant FileScenario::invariant_of(const FileInvariant& check) const {
  if (!check.no_rows.empty()) return no_rows(check.name, check.no_rows);
  if (!check.sql.empty()) return equals(check.name, check.sql, check.equals);
  return predicate(
      check.name,
      [this, command = check.command](const CheckContext&) {
        return run_check_command(command, file_->folder, {{"DATABASE_URL", database_url_}}, kCheckCommandTimeoutS);
      },
      false);
}

std::vector<Invariant> FileScenario::invariants() const {
  std::vector<Invariant> result;
  for (const auto& check : checks_) result.push_back(invariant_of(check));
  return result;
}

ScenarioDefinition definition_of(std::shared_ptr<const ScenarioFile> file) {
  ScenarioInfo info;
  info.name = file->name;
  info.description = file->description;
  info.expectation.violated = {file->expect.begin(), file->expect.end()};
  info.defaults.threads = file->count;
  info.defaults.iterations = file->iterations;
  info.defaults.sync = file->sync;
  if (file->isolation) info.defaults.isolation = *file->isolation;
  info.outcomes_from_wire = true;
  info.source_file = file->path.string();
  info.labels["file"] = file->path.string();
  return {std::move(info), [file](Options& options) -> std::unique_ptr<Scenario> {
            return std::make_unique<FileScenario>(file, options);
          }};
}

}  // namespace pgrace::files
