// The command-line part of the fault matrix (issue 8): hostile or careless
// command lines and report paths. For each case: the command, its exit code,
// its one-line error, and what it must leave behind — no report, no parent
// directory made for one, no server started for a usage error, and never a
// replaced symlink, FIFO or device.
//
// The invariant: pgrace either does what it was asked or refuses in one line
// naming the problem and the fix, with exit 2 (usage) or 3 (infrastructure),
// and then has changed nothing on disk.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "pgrace/error.hpp"
#include "pgrace/runner.hpp"
#include "pgrace/server.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using namespace pgrace::test;
using ::testing::HasSubstr;
using ::testing::Not;

const char* const kScenario = "transfer.for_update";
const char* const kSchedule = "transfer.lost_update_schedule";

int count_lines(const std::string& text) {
  int lines = 0;
  for (char c : text) lines += c == '\n';
  if (!text.empty() && text.back() != '\n') ++lines;
  return lines;
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string output_of(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

// ------------------------------------------------------------ usage errors

// A command line pgrace must refuse before starting a server.
struct UsageCase {
  std::string what;
  std::vector<std::string> args;  // "{tmp}" is replaced by the case's empty directory
  std::string error;              // a part of the one-line message
};

void PrintTo(const UsageCase& c, std::ostream* out) { *out << c.what; }

class FaultUsage : public ::testing::TestWithParam<UsageCase> {};

// Exit 2, one line on stderr that says what is wrong, nothing on stdout, no
// server started (PGRACE_TMPDIR stays empty), nothing created in {tmp}.
TEST_P(FaultUsage, RefusedInOneLineBeforeAnythingStarts) {
  const UsageCase& c = GetParam();
  TempDir servers, tmp;
  std::vector<std::string> args;
  for (std::string a : c.args) {
    if (auto at = a.find("{tmp}"); at != std::string::npos) a.replace(at, 5, tmp.path().string());
    args.push_back(a);
  }
  const RunResult r = run_pgrace(args, without_dsn({{"PGRACE_TMPDIR", servers.path().string()}}), 30s);
  EXPECT_EQ(r.exit_code, 2) << output_of(r);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr(c.error)) << r.err;
  EXPECT_THAT(r.err, Not(HasSubstr("internal error")));
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(fs::is_empty(servers.path())) << "a server was started for a usage error";
  EXPECT_TRUE(fs::is_empty(tmp.path())) << "something was created in " << tmp.path();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, FaultUsage,
    ::testing::Values(
        // 14: unknown subcommand and misspelt option name the word and suggest.
        UsageCase{"misspelt subcommand", {"rn", kScenario}, "unknown command 'rn': did you mean run?"},
        UsageCase{"unknown subcommand", {"frobnicate"}, "unknown command 'frobnicate'"},
        UsageCase{"no subcommand", {}, "no command given: use one of list, run"},
        UsageCase{"misspelt top-level option",
                  {"--verison"},
                  "unknown option '--verison' for pgrace: did you mean --version?"},
        UsageCase{"misspelt option", {"run", kScenario, "--threds", "3"}, "did you mean --threads?"},
        UsageCase{"misspelt option with =", {"run", kScenario, "--isolaton=serializable"}, "did you mean --isolation?"},
        UsageCase{
            "misspelt explore option", {"explore", kSchedule, "--max-schedule", "3"}, "did you mean --max-schedules"},
        UsageCase{"stray word", {"list", "extra"}, "unexpected argument 'extra' for pgrace list"},
        // Statement-level exploration (explore --workers N).
        UsageCase{"stress scenario explored without --workers",
                  {"explore", kScenario},
                  "explore its statements with --workers 2"},
        UsageCase{"--workers on an interleave scenario",
                  {"explore", kSchedule, "--workers", "2"},
                  "explore it step by step, without it"},
        UsageCase{"--workers 1",
                  {"explore", kScenario, "--workers", "1"},
                  "--workers must be a whole number from 2 to 8, got '1'"},
        UsageCase{
            "--workers with a pool", {"explore", "transfer.pool_misuse", "--workers", "2"}, "uses a connection pool"},
        UsageCase{"statement schedule naming no worker",
                  {"explore", kScenario, "--workers", "2", "--schedule", "w3.1"},
                  "--schedule step 'w3.1' names no request"},
        // 15: seeds out of range are refused, not saturated.
        UsageCase{"seed -1",
                  {"run", kScenario, "--seed", "-1"},
                  "--seed must be a whole number from 0 to 18446744073709551615, got '-1'"},
        UsageCase{"seed 2^64", {"run", kScenario, "--seed", "18446744073709551616"}, "got '18446744073709551616'"},
        UsageCase{
            "seed 10^23", {"run", kScenario, "--seed", "99999999999999999999999"}, "got '99999999999999999999999'"},
        UsageCase{"seed equals -1", {"run", kScenario, "--seed=-1"}, "got '-1'"},
        UsageCase{"seed text", {"run", kScenario, "--seed", "x"}, "got 'x'"},
        UsageCase{"seed with sign", {"run", kScenario, "--seed", "+5"}, "got '+5'"},
        UsageCase{"draws without --workers",
                  {"explore", kScenario, "--draws", "4"},
                  "--draws varies a stress scenario's inputs at statement level: give --workers too"},
        UsageCase{
            "draws 0", {"explore", kScenario, "--workers", "2", "--draws", "0"}, "--draws must be a whole number"},
        UsageCase{"draw past the draws",
                  {"explore", kScenario, "--workers", "2", "--draws", "4", "--draw", "4"},
                  "--draw 4 is not one of the 4 draws (0 to 3)"},
        UsageCase{"explore seed -1", {"explore", kSchedule, "--seed", "-1"}, "got '-1'"},
        UsageCase{"explore seed 2^64",
                  {"explore", kSchedule, "--seed", "18446744073709551616"},
                  "got '18446744073709551616'"},
        // 16: conflicting or empty flags.
        UsageCase{"duration and iterations",
                  {"run", kScenario, "--duration", "1", "--iterations", "5"},
                  "--duration and --iterations both given"},
        UsageCase{"empty --report", {"run", kScenario, "--report", ""}, "--report needs a file name"},
        UsageCase{"empty --junit", {"run", kScenario, "--junit", ""}, "--junit needs a file name"},
        UsageCase{
            "empty --report with equals", {"explore", kSchedule, "--report="}, "--report: 1 required TEXT missing"},
        UsageCase{"empty --junit-suite", {"run", kScenario, "--junit-suite", ""}, "--junit-suite needs a name"},
        UsageCase{
            "same report file", {"run", kScenario, "--report", "{tmp}/r", "--junit", "{tmp}/r"}, "name the same file"},
        UsageCase{"same report file via dot",
                  {"run", kScenario, "--report", "{tmp}/r", "--junit", "{tmp}/./r"},
                  "name the same file"},
        UsageCase{"same report file via dotdot",
                  {"run", kScenario, "--report", "{tmp}/d/../r", "--junit", "{tmp}/r"},
                  "name the same file"},
        UsageCase{"same report file in missing dirs",
                  {"run", kScenario, "--report", "{tmp}/a/b/r", "--junit", "{tmp}/a//b/r"},
                  "name the same file"},
        UsageCase{"empty --html", {"explore", kSchedule, "--html", ""}, "--html needs a file name"},
        UsageCase{"html as the report",
                  {"run", kScenario, "--report", "{tmp}/r", "--html", "{tmp}/./r"},
                  "/r and --html "},
        // The pool's knobs (issue 10), checked before a server starts.
        UsageCase{"pool size 0",
                  {"run", "pool.leak", "--pool-size", "0"},
                  "--pool-size must be a whole number from 1 to 256"},
        UsageCase{"pool size 257",
                  {"run", "pool.leak", "--pool-size", "257"},
                  "--pool-size must be a whole number from 1 to 256"},
        UsageCase{"pool size text", {"run", "pool.leak", "--pool-size", "four"}, "--pool-size"},
        UsageCase{"pool timeout 0",
                  {"run", "pool.leak", "--pool-timeout", "0"},
                  "--pool-timeout must be a whole number from 1 to 600000"},
        UsageCase{"pool timeout 600001",
                  {"run", kScenario, "--pool-timeout", "600001"},
                  "--pool-timeout must be a whole number from 1 to 600000"},
        UsageCase{"pool size on explore",
                  {"explore", kSchedule, "--pool-size", "4"},
                  "unknown option '--pool-size' for pgrace explore"},
        UsageCase{"negative max switches",
                  {"explore", kSchedule, "--max-switches", "-1"},
                  "--max-switches must be a whole number from 0 to 1000000, got '-1'"},
        UsageCase{
            "budget too small", {"run", kSchedule, "--budget", "0.01"}, "--budget must be seconds from 0.1 to 2592000"},
        UsageCase{"max schedules -1",
                  {"explore", kSchedule, "--max-schedules", "-1"},
                  "--max-schedules must be a whole number from 1 to"},
        UsageCase{"max schedules 2^64",
                  {"run", kSchedule, "--max-schedules", "18446744073709551616"},
                  "--max-schedules must be a whole number from 1 to"},
        UsageCase{"empty schedule", {"explore", kSchedule, "--schedule", " "}, "--schedule needs at least one step"},
        UsageCase{"schedule out of order",
                  {"explore", kSchedule, "--schedule", "r1 b1"},
                  "schedule runs step 'b1' after 'r1'"},
        // One strict parser for every number of every subcommand: digits only, in range.
        UsageCase{"hex threads",
                  {"run", kScenario, "--threads", "0x1"},
                  "--threads must be a whole number from 1 to 256, got '0x1'"},
        UsageCase{"spaced threads", {"run", kScenario, "--threads", " 5 "}, "got ' 5 '"},
        UsageCase{"plus threads", {"run", kScenario, "--threads", "+5"}, "got '+5'"},
        UsageCase{
            "minus zero repeat", {"run", kScenario, "--repeat", "-0"}, "--repeat must be a whole number from 1 to"},
        UsageCase{"exponent iterations",
                  {"run", kScenario, "--iterations", "1e3"},
                  "--iterations must be a whole number from 1 to 1000000000, got '1e3'"},
        UsageCase{"empty workers",
                  {"explore", kScenario, "--workers", ""},
                  "--workers must be a whole number from 2 to 8, got ''"},
        UsageCase{"huge retries",
                  {"run", kScenario, "--retries", "1000000"},
                  "--retries must be a whole number from 0 to 1000, got '1000000'"},
        UsageCase{"huge step timeout",
                  {"run", kSchedule, "--step-timeout", "99999999999"},
                  "--step-timeout must be a whole number from 1 to 86400000, got '99999999999'"},
        UsageCase{
            "explore hex step timeout", {"explore", kSchedule, "--step-timeout", "0x10"}, "--step-timeout must be"},
        UsageCase{"spec huge step timeout",
                  {"spec", "x.spec", "--step-timeout", "99999999999"},
                  "--step-timeout must be a whole number from 1 to 86400000"},
        UsageCase{"exponent duration",
                  {"run", kScenario, "--duration", "1e1"},
                  "--duration must be seconds from 0.01 to 86400"},
        UsageCase{"matrix exponent step timeout",
                  {"matrix", "--step-timeout", "1e3"},
                  "--step-timeout must be a whole number"},
        // Options that would do nothing for the scenarios named, and faults where none can go.
        UsageCase{"--threads on a check scenario",
                  {"run", "plan.indexed", "--threads", "4"},
                  "--threads does nothing for plan.indexed"},
        UsageCase{"--sync on interleave scenarios",
                  {"run", "hermitage.g0.*", "--sync", "start"},
                  "--sync does nothing for any of the selected scenarios"},
        UsageCase{"--fault on an interleave scenario",
                  {"run", kSchedule, "--fault", "drop_reply"},
                  "--fault cannot reach transfer.lost_update_schedule: it is an interleave scenario"},
        UsageCase{"--fault on a check scenario",
                  {"run", "plan.indexed", "--fault", "drop_reply"},
                  "--fault cannot reach plan.indexed: it is a check scenario"},
        // 7: sharding.
        UsageCase{"shard 0/0", {"run", kScenario, "--shard", "0/0"}, "--shard must be I/N with 1 <= I <= N"},
        UsageCase{"shard 3/2", {"run", kScenario, "--shard", "3/2"}, "got '3/2'"},
        UsageCase{"shard x", {"run", kScenario, "--shard", "x"}, "got 'x'"},
        UsageCase{"shard 1/", {"run", kScenario, "--shard", "1/"}, "got '1/'"},
        UsageCase{"shard -1/2", {"run", kScenario, "--shard=-1/2"}, "got '-1/2'"},
        UsageCase{"shard 1/99999999999", {"run", kScenario, "--shard", "1/99999999999"}, "got '1/99999999999'"},
        UsageCase{"empty shard",
                  {"run", kScenario, "--shard", "2/3"},
                  "shard 2/3 is empty: only 1 scenario(s) are selected, fewer than the 3 shards"},
        // explore --shard: a malformed shard, or one given with a replay of one execution.
        UsageCase{"explore shard 0/2",
                  {"explore", kSchedule, "--seed", "1", "--shard", "0/2"},
                  "--shard must be I/N with 1 <= I <= N"},
        UsageCase{"explore shard 3/2", {"explore", kSchedule, "--seed", "1", "--shard", "3/2"}, "got '3/2'"},
        UsageCase{"explore shard x", {"explore", kSchedule, "--seed", "1", "--shard", "x"}, "got 'x'"},
        UsageCase{"explore shard without a seed",
                  {"explore", kSchedule, "--shard", "1/2"},
                  "--shard needs --seed: the jobs split one exploration only when they share its seed"},
        UsageCase{"explore shard with a schedule",
                  {"explore", kSchedule, "--seed", "1", "--shard", "1/2", "--schedule", "b1 r1"},
                  "--shard splits an exploration over jobs, but a given schedule replays whole in one job: drop "
                  "the shard"},
        UsageCase{"explore shard with a draw",
                  {"explore", kScenario, "--workers", "2", "--seed", "1", "--shard", "1/2", "--draw", "1"},
                  "--shard splits an exploration over jobs, but one input draw replays whole in one job: drop the "
                  "shard"},
        UsageCase{"explore shard of a stress scenario without workers",
                  {"explore", kScenario, "--seed", "1", "--shard", "1/2"},
                  "--shard splits an exploration, and transfer.for_update is a stress scenario, whose run is not an "
                  "exploration: explore its statements"},
        // 18: a report path in missing directories with a usage error: no directory is made.
        UsageCase{"report in missing dirs, bad option",
                  {"run", kScenario, "-o", "nosuch=1", "--report", "{tmp}/a/b/r.json", "--junit", "{tmp}/c/j.xml"},
                  "option 'nosuch' is not read"},
        // 2: what is not a file is refused.
        UsageCase{"report is a directory", {"run", kScenario, "--report", "/"}, "it is a directory"},
        UsageCase{"report names a directory", {"run", kScenario, "--report", "{tmp}/missing/"}, "give a file name"},
        UsageCase{"report under a file", {"run", kScenario, "--report", "/dev/null/r.json"}, "Not a directory"}),
    [](const ::testing::TestParamInfo<UsageCase>& info) {
      std::string name;
      for (char c : info.param.what) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });

// ---------------------------------------------------- 18: exit 3, no dirs

TEST(FaultReports, UnreachableServerMakesNoReportDirectories) {
  TempDir tmp;
  const RunResult r =
      run_pgrace({"run", kScenario, "--dsn", "postgresql://u:pw@127.0.0.1:1/x", "--report",
                  (tmp.path() / "a" / "b" / "r.json").string(), "--junit", (tmp.path() / "c" / "j.xml").string()},
                 without_dsn(), 60s);
  EXPECT_EQ(r.exit_code, 3) << output_of(r);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_TRUE(fs::is_empty(tmp.path())) << "report directories were made for a run that never ran";
}

// ------------------------------------------- 12: one-line errors, end to end

// The value used to reach the database, which rejected it with a multi-line
// error (ERROR, CONTEXT); the option's range check now names it first.
TEST(FaultOneLine, OutOfRangeOptionIsOneLine) {
  TempDir tmp;
  const fs::path report = tmp.path() / "sub" / "r.json";
  const RunResult r = run_pgrace({"run", kScenario, "-q", "-o", "accounts=3000000000", "--report", report.string()},
                                 without_dsn(), 60s);
  EXPECT_EQ(r.exit_code, 2) << output_of(r);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("option accounts=3000000000 is out of range: give a whole number from 2 to"));
  EXPECT_THAT(r.err, Not(HasSubstr("CONTEXT")));
  EXPECT_TRUE(fs::is_empty(tmp.path())) << "a report (or its directory) was written on exit 2";
}

// A scenario whose schema or seed fails in PostgreSQL: the error pgrace
// raises carries the server's multi-line message; one_line(), which the
// command line prints, keeps what matters on one line.
class BrokenScenario : public pgrace::Scenario {
 public:
  BrokenScenario(std::string schema, std::string seed, std::string invariant_sql = "")
      : schema_(std::move(schema)), seed_(std::move(seed)), invariant_sql_(std::move(invariant_sql)) {}
  std::string schema() const override { return schema_; }
  void seed(pqxx::work& tx) override { tx.exec(seed_); }
  pgrace::TxResult transaction(pgrace::Worker&) override { return pgrace::TxResult::committed; }
  std::vector<pgrace::Invariant> invariants() const override {
    if (invariant_sql_.empty()) return {};
    return {pgrace::no_rows("no negative balance", invariant_sql_)};
  }

 private:
  std::string schema_, seed_, invariant_sql_;
};

class FaultErrors : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = pgrace::Server::open(std::nullopt); }
  static void TearDownTestSuite() { server_.reset(); }

  // The message of the pgrace::Error that running a scenario with this
  // schema and seed SQL raises ("" if none); its exit code in `code`.
  static std::string error_of(const std::string& schema, const std::string& seed, pgrace::ExitCode& code) {
    pgrace::ScenarioInfo info;
    info.name = "test.broken";
    info.defaults.threads = 1;
    info.defaults.iterations = 1;
    BrokenScenario scenario(schema, seed);
    try {
      pgrace::run_scenario(*server_, info, scenario, pgrace::RunSettings{});
    } catch (const pgrace::Error& e) {
      code = e.code();
      return e.what();
    }
    return "";
  }

  static std::unique_ptr<pgrace::Server> server_;
};

std::unique_ptr<pgrace::Server> FaultErrors::server_;

TEST_F(FaultErrors, SchemaSyntaxErrorIsOneLine) {
  pgrace::ExitCode code{};
  const std::string raw = error_of("CREATE TABLE accounts (id int PRIMARY KEY,, balance int);", "SELECT 1", code);
  EXPECT_EQ(code, pgrace::ExitCode::usage);
  EXPECT_EQ(count_lines(raw), 1) << raw;
  const std::string line = pgrace::one_line(raw);
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  EXPECT_THAT(line, HasSubstr("syntax error at or near \",\""));
  EXPECT_THAT(line, HasSubstr("the schema of test.broken fails at line 1, column 43"));
  EXPECT_THAT(line, Not(HasSubstr("^"))) << "the caret line is noise on one line";
}

// Several scenarios may share an invariant: its SQL error names the scenario too.
TEST_F(FaultErrors, InvariantSqlErrorNamesTheScenarioAndTheInvariant) {
  pgrace::ScenarioInfo info;
  info.name = "test.broken_invariant";
  info.defaults.threads = 1;
  info.defaults.iterations = 1;
  BrokenScenario scenario("CREATE TABLE accounts (id int, balance int);", "INSERT INTO accounts VALUES (1, 5)",
                          "SELECT id FROM acounts WHERE balance < 0");
  try {
    pgrace::run_scenario(*server_, info, scenario, pgrace::RunSettings{});
    FAIL() << "no error";
  } catch (const pgrace::Error& e) {
    EXPECT_EQ(e.code(), pgrace::ExitCode::usage);
    EXPECT_EQ(count_lines(e.what()), 1) << e.what();
    EXPECT_THAT(e.what(), HasSubstr("test.broken_invariant: invariant 'no negative balance' failed to run"));
  }
}

TEST_F(FaultErrors, SeedViolatingACheckIsOneLine) {
  pgrace::ExitCode code{};
  const std::string raw = error_of("CREATE TABLE accounts (id int PRIMARY KEY, balance int CHECK (balance >= 0));",
                                   "INSERT INTO accounts VALUES (1, -5)", code);
  EXPECT_EQ(code, pgrace::ExitCode::usage);
  EXPECT_EQ(count_lines(raw), 1) << raw;
  EXPECT_THAT(raw,
              HasSubstr("test.broken: seed() failed: new row for relation \"accounts\" violates check constraint"));
  EXPECT_THAT(raw, HasSubstr("fix the scenario's seed()"));
}

TEST(OneLine, FoldsPostgresMessages) {
  EXPECT_EQ(pgrace::one_line("plain"), "plain");
  EXPECT_EQ(pgrace::one_line("a\n"), "a");
  EXPECT_EQ(pgrace::one_line("ERROR:  syntax error at or near \"x\"\nLINE 1: CREATE x\n               ^\n (fix it)"),
            "ERROR: syntax error at or near \"x\" (fix it)");
  EXPECT_EQ(pgrace::one_line("ERROR:  bad\nDETAIL:  why\nHINT:  do this\nCONTEXT:  SQL function\n"),
            "ERROR: bad; DETAIL: why; HINT: do this");
  EXPECT_EQ(pgrace::one_line("\n\n  first  \r\n\tsecond\n"), "first; second");
  EXPECT_EQ(pgrace::one_line(""), "");
}

// ------------------------------------------------- 11: closed fds 0, 1, 2

// With stdout closed, the first connection pgrace opens used to become fd 1
// and its status text went into the database socket (exit 3).
TEST(FaultFds, RunWithStandardFdsClosedSucceeds) {
  const std::string script = "exec \"$0\" run " + std::string(kScenario) + " --duration 3 >&-";
  const RunResult r = run({"/bin/sh", "-c", script, pgrace_binary()}, without_dsn(), 120s);
  EXPECT_EQ(r.exit_code, 0) << output_of(r);
  EXPECT_THAT(r.err, Not(HasSubstr("lost the connection")));

  const std::string all_closed = "exec \"$0\" run " + std::string(kScenario) + " --duration 1 <&- >&- 2>&-";
  const RunResult quiet = run({"/bin/sh", "-c", all_closed, pgrace_binary()}, without_dsn(), 120s);
  EXPECT_EQ(quiet.exit_code, 0) << output_of(quiet);
}

// ---------------------------------------------- 2: where reports may go

bool is_link(const fs::path& p) { return fs::is_symlink(fs::symlink_status(p)); }

// --report /dev/stdout: the JSON is on stdout (the terminal text moves to
// stderr), and /dev/stdout is still the symlink it was.
TEST(FaultReports, ReportToDevStdoutWritesJsonOnStdout) {
  ASSERT_TRUE(is_link("/dev/stdout") || fs::exists("/dev/stdout"));
  const bool was_link = is_link("/dev/stdout");
  const RunResult r = run_pgrace({"run", kScenario, "--seed", "5", "--report", "/dev/stdout"}, without_dsn(), 60s);
  ASSERT_EQ(r.exit_code, 0) << output_of(r);
  const auto j = nlohmann::json::parse(r.out);  // stdout is exactly the report
  EXPECT_EQ(j.at("seed"), 5);
  EXPECT_THAT(r.err, HasSubstr("1/1 scenarios matched"));
  EXPECT_EQ(is_link("/dev/stdout"), was_link);
  EXPECT_FALSE(fs::is_regular_file(fs::symlink_status("/dev/stdout"))) << "/dev/stdout was replaced by a file";
}

// A symlink of ours to /proc/self/fd/1 is followed to pgrace's stdout; the
// link stays.
TEST(FaultReports, SymlinkToProcSelfFd1WritesStdoutAndKeepsTheLink) {
  TempDir tmp;
  const fs::path link = tmp.path() / "out";
  fs::create_symlink("/proc/self/fd/1", link);
  const RunResult r = run_pgrace({"run", kScenario, "-q", "--junit", link.string()}, without_dsn(), 60s);
  ASSERT_EQ(r.exit_code, 0) << output_of(r);
  EXPECT_EQ(r.out.rfind("<?xml", 0), 0u) << r.out;
  EXPECT_THAT(r.out, HasSubstr("</testsuites>"));
  EXPECT_TRUE(is_link(link)) << "the symlink was replaced";
  EXPECT_EQ(fs::read_symlink(link), "/proc/self/fd/1");
}

// A symlink to a regular file: the file gets the report, the link stays; a
// dangling one gets its target created.
TEST(FaultReports, SymlinkToRegularFileWritesTheTarget) {
  TempDir tmp;
  const fs::path target = tmp.path() / "real.json";
  std::ofstream(target) << "old";
  fs::create_symlink("real.json", tmp.path() / "link.json");
  fs::create_symlink("dir/new.xml", tmp.path() / "dangling.xml");
  const RunResult r = run_pgrace({"run", kScenario, "-q", "--report", (tmp.path() / "link.json").string(), "--junit",
                                  (tmp.path() / "dangling.xml").string()},
                                 without_dsn(), 60s);
  ASSERT_EQ(r.exit_code, 0) << output_of(r);
  EXPECT_TRUE(is_link(tmp.path() / "link.json"));
  EXPECT_TRUE(is_link(tmp.path() / "dangling.xml"));
  EXPECT_EQ(nlohmann::json::parse(slurp(target)).at("exit_code"), 0);
  EXPECT_THAT(slurp(tmp.path() / "dir" / "new.xml"), HasSubstr("<testsuites"));
  for (const auto& e : fs::recursive_directory_iterator(tmp.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
}

// A FIFO is written in place (a reader gets the report) and stays a FIFO.
TEST(FaultReports, FifoIsWrittenInPlace) {
  TempDir tmp;
  const fs::path fifo = tmp.path() / "report.fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  const int reader = open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);  // so pgrace's open does not block
  ASSERT_GE(reader, 0);
  const RunResult r = run_pgrace({"run", kScenario, "-q", "--report", fifo.string()}, without_dsn(), 60s);
  std::string got;
  char buffer[65536];
  for (ssize_t n; (n = read(reader, buffer, sizeof buffer)) > 0;) got.append(buffer, static_cast<std::size_t>(n));
  close(reader);
  ASSERT_EQ(r.exit_code, 0) << output_of(r);
  struct stat st {};
  ASSERT_EQ(lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the FIFO was replaced";
  EXPECT_EQ(nlohmann::json::parse(got).at("exit_code"), 0) << got;
}

// A FIFO nobody reads would block the report's open forever, after the
// run, with the server up: refused at once instead, before a server starts.
TEST(FaultReports, FifoWithoutReaderIsRefusedBeforeAServerStarts) {
  TempDir tmp, servers;
  const fs::path fifo = tmp.path() / "report.fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  const RunResult r = run_pgrace({"run", kScenario, "-q", "--junit", fifo.string()},
                                 without_dsn({{"PGRACE_TMPDIR", servers.path().string()}}), 30s);
  EXPECT_EQ(r.exit_code, 2) << output_of(r);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("it is a FIFO with no reader: start the reader first"));
  EXPECT_TRUE(fs::is_empty(servers.path())) << "a server was started for a usage error";
  struct stat st {};
  ASSERT_EQ(lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
}

// A character device (/dev/null) is written in place, never replaced.
TEST(FaultReports, CharacterDeviceIsWrittenInPlace) {
  const RunResult r = run_pgrace({"run", kScenario, "-q", "--report", "/dev/null"}, without_dsn(), 60s);
  ASSERT_EQ(r.exit_code, 0) << output_of(r);
  struct stat st {};
  ASSERT_EQ(lstat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode)) << "/dev/null is no longer a device";
}

// As root, a symlink owned by another account is not followed (its owner
// could point it at any file root may write): refused before anything runs,
// and the file it points at is untouched.
TEST(FaultReports, RootRefusesSymlinkOwnedByAnotherAccount) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (CI runs as root)";
  TempDir tmp, servers;
  const fs::path victim = tmp.path() / "victim";
  std::ofstream(victim) << "precious";
  const fs::path link = tmp.path() / "link";
  fs::create_symlink(victim, link);
  ASSERT_EQ(lchown(link.c_str(), 65534, 65534), 0) << std::strerror(errno);  // nobody
  const RunResult r = run_pgrace({"run", kScenario, "--report", link.string()},
                                 without_dsn({{"PGRACE_TMPDIR", servers.path().string()}}), 60s);
  EXPECT_EQ(r.exit_code, 2) << output_of(r);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("is a symlink owned by another account (uid 65534)"));
  EXPECT_EQ(slurp(victim), "precious");
  EXPECT_TRUE(is_link(link));
  EXPECT_TRUE(fs::is_empty(servers.path())) << "a server was started";
}

}  // namespace
