// Looking at the evidence: pgrace run/explore --keep, and the server's log
// lines beside the report.
//
// What --keep promises: a violating run keeps the scenario's database with
// the state the violation left (stress: the first violating repetition's,
// the run stopping there; explore: the minimal reproducer's, replayed), a
// printed psql command opens it, and the ephemeral server stays up until a
// termination signal, after which nothing of it is left (no process, no
// directory) - also with stdin not a terminal, as here. A run that violates
// nothing keeps nothing and does not wait. With --dsn, the kept database
// outlives the run and later runs, and pgrace clean removes it.
//
// What the server log promises: a violating (or erroring) scenario's report
// holds the ephemeral server's log lines written while it ran, and only
// those; a scenario that held has none.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "pgrace/server.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using namespace pgrace::test;
using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;

// The line of `text` that contains `needle`, without its newline ("" if none).
std::string line_with(const std::string& text, const std::string& needle) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (line.find(needle) != std::string::npos) return line;
  return "";
}

// Runs the psql command pgrace printed (`psql_line`) with `sql`; returns its
// unaligned output without the last newline.
std::string query(const std::string& psql_line, const std::string& sql) {
  const RunResult r = run({"/bin/sh", "-c", psql_line + " -AtX -c \"" + sql + "\""});
  EXPECT_EQ(r.exit_code, 0) << psql_line << "\n" << r.err;
  std::string out = r.out;
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// The lowest balance an account of transfer.sql ever had below zero (its
// trigger records each in overdrafts: "no negative balance" reads them).
constexpr char kLowestOverdraft[] = "SELECT coalesce(min(balance), 0) FROM overdrafts";

json read_json(const fs::path& path) { return json::parse(read_text(path)); }

// Whether the report at `path` validates against reports/pgrace-report.schema.json
// ("" if it does, else the validator's complaint), with Debian's python3-jsonschema.
std::string schema_complaint(const fs::path& path) {
  const fs::path schema = specs_dir().parent_path().parent_path() / "reports" / "pgrace-report.schema.json";
  const RunResult r = run({"/usr/bin/python3", "-c",
                           "import json, sys, jsonschema\n"
                           "jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))",
                           path.string(), schema.string()});
  return r.exit_code == 0 ? "" : r.err;
}

// The instance directory of the ephemeral server the psql command names
// (its host is the socket directory inside it).
fs::path instance_of(const std::string& psql_line) {
  const auto from = psql_line.find("host='") + 6;
  return fs::path(psql_line.substr(from, psql_line.find('\'', from) - from)).parent_path();
}

// A pgrace run with --keep on an ephemeral server that kept something: it
// waits; `check` looks at the kept state; then SIGINT ends it, with the
// report's exit code, and nothing of the server is left.
void hold_then_interrupt(const std::vector<std::string>& args, const TempDir& tmp,
                         const std::function<void(const std::string& out)>& check) {
  std::vector<std::string> argv = {pgrace_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  Child child(argv, without_dsn({{"PGRACE_TMPDIR", tmp.path().string()}}));
  ASSERT_TRUE(child.read_stdout_until("press Ctrl-C", 120s)) << child.out() << child.err();
  const std::string banner = line_with(child.out(), "kept the server (pid ");
  const pid_t postmaster = std::stoi(banner.substr(banner.find("(pid ") + 5));
  const fs::path instance = instance_of(line_with(child.out(), "  psql "));
  ASSERT_TRUE(fs::exists(instance)) << instance;
  ASSERT_FALSE(process_gone(postmaster));
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(child.wait(10ms)) << "pgrace --keep did not wait for a signal";
  check(child.out());
  child.signal(SIGINT);
  const auto code = child.wait(30s);
  ASSERT_TRUE(code) << "pgrace --keep did not end on SIGINT";
  EXPECT_EQ(*code, 0) << child.out() << child.err();
  EXPECT_FALSE(fs::exists(instance)) << instance << " is left";
  EXPECT_TRUE(eventually([&] { return process_gone(postmaster); }, 5000ms)) << "postmaster " << postmaster;
  for (const auto& entry : fs::directory_iterator(tmp.path())) {
    const std::string name = entry.path().filename().string();
    EXPECT_TRUE(name.rfind("pgrace-", 0) != 0 || name.rfind("pgrace-cache-", 0) == 0) << name << " is left";
  }
}

TEST(KeepCli, AStressRunKeepsTheFirstViolatingRepetitionsStateUntilSigint) {
  TempDir tmp;
  const fs::path report = tmp.path() / "out" / "r.json";
  hold_then_interrupt({"run", "transfer.check_then_debit", "--repeat", "5", "--keep", "--report", report.string()}, tmp,
                      [&](const std::string& out) {
                        const std::string psql = line_with(out, "  psql ");
                        EXPECT_THAT(psql, Not(HasSubstr("password")));
                        // The state of a violating repetition: an account went below zero
                        // (transfer.sql's trigger records it in overdrafts, the invariant's table).
                        EXPECT_LT(std::stol(query(psql, kLowestOverdraft)), 0);
                        EXPECT_EQ(schema_complaint(report), "");
                        const json s = read_json(report)["scenarios"][0];
                        EXPECT_EQ(s["repetitions"], 1) << "the run goes on after the first violating repetition";
                        ASSERT_TRUE(s.contains("kept")) << s.dump(2);
                        const std::string database = s["kept"]["database"];
                        EXPECT_THAT(psql, HasSubstr("dbname='" + database + "'"));
                        EXPECT_THAT(std::string(s["kept"]["state"]), HasSubstr("repetition 1"));
                        EXPECT_THAT(out, HasSubstr("kept transfer.check_then_debit's database " + database));
                        // Its log lines: the workers connecting to its database.
                        const std::string log = read_text(report.string() + ".server.log");
                        EXPECT_THAT(log, HasSubstr("database=" + database));
                        EXPECT_THAT(s["server_log"].dump(), HasSubstr("database=" + database));
                      });
}

TEST(KeepCli, ExploreKeepsTheStateTheStatementLevelReproducerLeaves) {
  TempDir tmp;
  hold_then_interrupt(
      {"explore", "transfer.check_then_debit", "--workers", "2", "--max-switches", "3", "--seed", "1", "--keep", "-q"},
      tmp, [](const std::string& out) {
        EXPECT_THAT(out, HasSubstr("the state the minimal reproducer leaves"));
        EXPECT_THAT(out, Not(HasSubstr("this replay violated nothing")));
        EXPECT_LT(std::stol(query(line_with(out, "  psql "), kLowestOverdraft)), 0);
      });
}

TEST(KeepCli, ExploreKeepsTheStateTheShrunkInterleaveReproducerLeaves) {
  TempDir tmp;
  hold_then_interrupt({"explore", "transfer.lost_update_schedule", "--keep", "-q"}, tmp, [](const std::string& out) {
    EXPECT_THAT(out, HasSubstr("the state the minimal reproducer leaves"));
    // Seeded with 300 in all: the reproducer lost an update.
    EXPECT_NE(query(line_with(out, "  psql "), "SELECT sum(balance) FROM accounts"), "300");
  });
}

// A check scenario (no concurrent work) keeps its seeded database, where
// the query its plan invariant complains of can be explained by hand.
TEST(KeepCli, AViolatingCheckScenarioKeepsItsDatabase) {
  TempDir tmp;
  hold_then_interrupt({"run", "plan.missing_index", "--repeat", "3", "--keep", "-q"}, tmp, [](const std::string& out) {
    EXPECT_THAT(out, HasSubstr("after repetition 1, the first violating one"));
    EXPECT_NE(query(line_with(out, "  psql "), "SELECT count(*) FROM orders"), "0");
  });
}

TEST(KeepCli, AHeldRunKeepsNothingAndDoesNotWait) {
  TempDir tmp;
  const fs::path report = tmp.path() / "r.json";
  const RunResult r =
      run_pgrace({"run", "transfer.for_update", "--iterations", "20", "--keep", "--report", report.string()},
                 without_dsn({{"PGRACE_TMPDIR", tmp.path().string()}}), 120s);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("nothing violated, nothing kept"));
  EXPECT_THAT(r.out, Not(HasSubstr("psql")));
  const json s = read_json(report)["scenarios"][0];
  EXPECT_FALSE(s.contains("kept"));
  EXPECT_FALSE(s.contains("server_log")) << "a scenario that held has no log lines";
  EXPECT_FALSE(fs::exists(report.string() + ".server.log"));
}

TEST(KeepCli, KeepWithShardIsAUsageError) {
  const RunResult r = run_pgrace({"run", "--all", "--shard", "1/2", "--keep"}, without_dsn());
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("--keep"));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

// Each violating scenario's log lines are its own: written after the server
// started and the previous scenario ended, and naming only databases this
// pgrace made (pgrace_*_<machine>_<its pid>_...).
TEST(ServerLog, EachViolatingScenarioHasTheLinesOfItsOwnTimeWindow) {
  TempDir tmp;
  const fs::path report = tmp.path() / "r.json";
  Child child({pgrace_binary(), "run", "transfer.check_then_debit", "transfer.read_modify_write", "-q", "--report",
               report.string()},
              without_dsn({{"PGRACE_TMPDIR", tmp.path().string()}}));
  const auto code = child.wait(120s);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0) << child.out() << child.err();
  const json scenarios = read_json(report)["scenarios"];
  std::vector<std::vector<std::string>> logs;
  for (const json& s : scenarios) {
    ASSERT_TRUE(s.contains("server_log")) << s["name"];
    logs.push_back(s["server_log"].get<std::vector<std::string>>());
  }
  const std::string own = "_" + std::to_string(child.pid()) + "_";
  for (const auto& log : logs) {
    ASSERT_FALSE(log.empty());
    EXPECT_LE(log.size(), 200u);
    for (const std::string& line : log) {
      EXPECT_THAT(line, Not(HasSubstr("ready to accept connections"))) << "a line from before the scenario";
      const auto at = line.find("database=pgrace_run_");
      if (at != std::string::npos) {
        EXPECT_THAT(line.substr(at), HasSubstr(own)) << line;
      }
    }
  }
  // Millisecond timestamps ("2026-12-07 23:49:08.835 UTC"), which sort as text.
  EXPECT_LE(logs[0].back().substr(0, 23), logs[1].front().substr(0, 23));
  EXPECT_TRUE(std::regex_search(logs[0].front(), std::regex(R"(^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} )")))
      << logs[0].front();
  const std::string beside = read_text(report.string() + ".server.log");
  EXPECT_THAT(beside, HasSubstr("== transfer.check_then_debit (violated)"));
  EXPECT_THAT(beside, HasSubstr("== transfer.read_modify_write (violated)"));
}

// With --dsn: kept without waiting; a later run leaves it; pgrace clean drops it.
TEST(KeepCli, WithDsnTheKeptDatabaseOutlivesTheRunUntilPgraceClean) {
  TempDir tmp;
  const ScopedEnv tmpdir("PGRACE_TMPDIR", tmp.path().string());
  const auto server = pgrace::Server::open(std::nullopt);
  const EnvOverrides env = without_dsn();
  const RunResult kept = run_pgrace({"run", "transfer.check_then_debit", "--keep", "--dsn", server->dsn()}, env);
  EXPECT_EQ(kept.exit_code, 0) << kept.out << kept.err;
  EXPECT_THAT(kept.out, HasSubstr("pgrace clean"));
  EXPECT_THAT(kept.out, Not(HasSubstr("press Ctrl-C")));
  const std::string psql = line_with(kept.out, "  psql ");
  EXPECT_LT(std::stol(query(psql, kLowestOverdraft)), 0);
  const std::string database = psql.substr(psql.find("dbname='") + 8, psql.find("'\"") - psql.find("dbname='") - 8);

  const RunResult later = run_pgrace({"run", "transfer.for_update", "--iterations", "5", "--dsn", server->dsn()}, env);
  EXPECT_EQ(later.exit_code, 0) << later.out << later.err;
  EXPECT_LT(std::stol(query(psql, kLowestOverdraft)), 0) << "a later run dropped it";

  const RunResult clean = run_pgrace({"clean", "--dsn", server->dsn()}, env);
  EXPECT_EQ(clean.exit_code, 0) << clean.out << clean.err;
  EXPECT_THAT(clean.out, HasSubstr("removed " + database + ": kept by --keep"));
  const RunResult gone = run({"/bin/sh", "-c", psql + " -AtX -c 'SELECT 1'"});
  EXPECT_NE(gone.exit_code, 0) << "pgrace clean left " << database;
}

}  // namespace
