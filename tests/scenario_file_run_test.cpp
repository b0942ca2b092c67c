// Scenario files run by the pgrace program on an ephemeral server, with
// real worker processes (python3 with psycopg 3, psql, sh). The invariants
// these tests check: the bundled Python check-then-act violates in every one
// of 20 repetitions and its fix in none; a worker gets the connection (a
// DATABASE_URL that libpq takes, through the proxy, with its own
// application_name), its number, the iterations, the options and the
// isolation level; pgrace learns its transactions from the wire; a worker
// that fails, or outlives the timeout, ends in verdict error naming it and
// leaves no process behind; a malformed file exits 2 before any server
// starts, in one line, without a report; explore --workers 2 finds the
// check-then-act's lost update in the same order on every run, and no
// order breaks its fix.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <signal.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using namespace pgrace::test;
using ::testing::HasSubstr;

fs::path repo_root() { return specs_dir().parent_path().parent_path(); }

class ScenarioFileRun : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("pgrace-file-run-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    std::ofstream(dir_ / "schema.sql") << "CREATE TABLE seen (worker int, iterations text, app text, iso text);";
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return dir_ / name;
  }
  // Runs pgrace with `args` and a JSON report; returns the report's scenarios.
  nlohmann::json run_with_report(std::vector<std::string> args, int expected_exit) {
    const fs::path report = dir_ / "report.json";
    args.insert(args.end(), {"--report", report.string()});
    const RunResult result = run_pgrace(args, without_dsn(), std::chrono::seconds(240));
    EXPECT_EQ(result.exit_code, expected_exit) << result.out << result.err;
    return nlohmann::json::parse(read_text(report))["scenarios"];
  }

  fs::path dir_;
};

TEST_F(ScenarioFileRun, PythonCheckThenActViolatesInTwentyOfTwentyAndItsFixInNone) {
  const fs::path examples = repo_root() / "examples" / "python";
  const auto scenarios = run_with_report(
      {"run", (examples / "unsafe.pgrace.toml").string(), (examples / "safe.pgrace.toml").string(), "--repeat", "20"},
      0);
  ASSERT_EQ(scenarios.size(), 2u);
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& s : scenarios) by_name[s["name"]] = s;
  const auto& unsafe = by_name.at("python.stock.unsafe");
  EXPECT_EQ(unsafe["verdict"], "violated");
  EXPECT_EQ(unsafe["violating_runs"], 20);
  EXPECT_EQ(unsafe["repetitions"], 20);
  const auto& safe = by_name.at("python.stock.safe");
  EXPECT_EQ(safe["verdict"], "held");
  EXPECT_EQ(safe["violating_runs"], 0);
  EXPECT_EQ(safe["repetitions"], 20);
  // 4 workers x 20 purchases x 20 repetitions, each a transaction seen committing on the wire.
  EXPECT_EQ(safe["outcomes"]["committed"], 1600);
}

TEST_F(ScenarioFileRun, WorkersGetTheirConnectionNumberIterationsOptionsAndIsolation) {
  write("worker.sh",
        "test \"$PGRACE_OPTION_STOCK\" = 7 || { echo \"PGRACE_OPTION_STOCK is '$PGRACE_OPTION_STOCK'\"; exit 3; }\n"
        "exec psql \"$DATABASE_URL\" -v ON_ERROR_STOP=1 -qc \"INSERT INTO seen VALUES ($PGRACE_WORKER, "
        "'$PGRACE_ITERATIONS', current_setting('application_name'), current_setting('transaction_isolation'))\"\n");
  const fs::path file = write("env.pgrace.toml", R"(
name = "files.environment"
isolation = "serializable"
[options]
stock = 30
[database]
schema = ["schema.sql"]
[workers]
command = ["/bin/sh", "worker.sh"]
count = 2
iterations = 5
[[invariant]]
name = "each worker saw its own settings"
sql = "SELECT string_agg(worker || ':' || iterations || ':' || app || ':' || iso, ',' ORDER BY worker) FROM seen"
equals = "1:5:pgrace-worker-0:serializable,2:5:pgrace-worker-1:serializable"
)");
  const auto scenarios = run_with_report({"run", file.string(), "-o", "stock=7"}, 0);
  EXPECT_EQ(scenarios[0]["verdict"], "held") << scenarios[0].dump();
  EXPECT_EQ(scenarios[0]["outcomes"]["committed"], 2) << "one INSERT per worker, in autocommit, seen on the wire";
}

TEST_F(ScenarioFileRun, ACommandInvariantIsViolatedByItsExitWithItsOutputAsWitnesses) {
  const fs::path file = write("cmd.pgrace.toml", R"(
name = "files.command_invariant"
expect = ["checked by a program"]
[database]
schema = ["schema.sql"]
[workers]
command = ["/bin/sh", "-c", "psql \"$DATABASE_URL\" -qc \"INSERT INTO seen VALUES ($PGRACE_WORKER)\""]
count = 2
[[invariant]]
name = "checked by a program"
command = ["/bin/sh", "-c", "psql \"$DATABASE_URL\" -Atc 'SELECT worker FROM seen ORDER BY worker'; exit 1"]
)");
  const auto scenarios = run_with_report({"run", file.string()}, 0);
  EXPECT_EQ(scenarios[0]["verdict"], "violated") << scenarios[0].dump();
  EXPECT_EQ(scenarios[0]["invariants"][0]["witnesses"], nlohmann::json::array({"1", "2"}));
}

TEST_F(ScenarioFileRun, AFailingWorkerIsVerdictErrorNamingItAndItsOutput) {
  const fs::path file = write("fail.pgrace.toml", R"(
name = "files.failing_worker"
[workers]
command = ["/bin/sh", "-c", "echo 'no such table: accounts' >&2; exit 4"]
count = 2
[[invariant]]
name = "n"
no_rows = "SELECT 1 WHERE false"
)");
  const auto scenarios = run_with_report({"run", file.string()}, 1);
  EXPECT_EQ(scenarios[0]["verdict"], "error");
  const std::string error = scenarios[0]["error"];
  EXPECT_THAT(error, HasSubstr("exited with status 4"));
  EXPECT_THAT(error, HasSubstr("no such table: accounts"));
  EXPECT_THAT(error, HasSubstr("worker "));
}

TEST_F(ScenarioFileRun, AWorkerPastTheTimeoutIsKilledWithItsProcessGroup) {
  const std::string marker = "pgrace_file_run_sleeper_" + std::to_string(getpid());
  write("sleeper.sh", "sleep 600 & wait  # " + marker + "\n");
  const fs::path file = write("slow.pgrace.toml", R"(
name = "files.slow_worker"
[workers]
command = ["/bin/sh", "sleeper.sh"]
count = 2
[[invariant]]
name = "n"
no_rows = "SELECT 1 WHERE false"
)");
  const auto scenarios = run_with_report({"run", file.string(), "--timeout", "2"}, 1);
  EXPECT_EQ(scenarios[0]["verdict"], "error");
  EXPECT_THAT(std::string(scenarios[0]["error"]), HasSubstr("timed out"));
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string cmdline = read_text(entry.path() / "cmdline");
    EXPECT_EQ(cmdline.find("sleeper.sh"), std::string::npos) << "left running: " << entry.path();
  }
}

// Whether a process whose command line holds `marker` runs.
bool runs_with(const std::string& marker) {
  for (const auto& entry : fs::directory_iterator("/proc"))
    if (read_text(entry.path() / "cmdline").find(marker) != std::string::npos) return true;
  return false;
}

TEST_F(ScenarioFileRun, CtrlCKillsTheWorkerProcesses) {
  // In the command lines of both the shell (its script's name) and its sleep.
  const std::string marker = "1000." + std::to_string(getpid());
  write("sleeper" + marker + ".sh", "echo started > started.$PGRACE_WORKER; sleep " + marker + "\n");
  const fs::path file = write("sigint.pgrace.toml", R"(
name = "files.interrupted"
[workers]
command = ["/bin/sh", "sleeper)" + marker + R"(.sh"]
count = 2
[[invariant]]
name = "n"
no_rows = "SELECT 1 WHERE false"
)");
  const fs::path tmp = dir_ / "tmp";
  fs::create_directories(tmp);
  Child pgrace({pgrace_binary(), "run", file.string()}, without_dsn({{"TMPDIR", tmp.string()}}));
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!(fs::exists(dir_ / "started.1") && fs::exists(dir_ / "started.2")) &&
         std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(runs_with(marker)) << "the workers never started";
  kill(pgrace.pid(), SIGINT);
  ASSERT_TRUE(pgrace.wait(std::chrono::seconds(30)));
  EXPECT_FALSE(runs_with(marker)) << "a worker outlived pgrace";
  for (const auto& entry : fs::directory_iterator(tmp))
    EXPECT_EQ(entry.path().filename().string().rfind("pgrace-workers-", 0), std::string::npos)
        << "left behind: " << entry.path();
}

TEST_F(ScenarioFileRun, AMalformedFileExitsTwoInOneLineWithoutAReport) {
  const fs::path file = write("bad.pgrace.toml", "name = \"x\"\n[workers]\ncommand = [\"true\"]\ncount = \"two\"\n");
  const fs::path report = dir_ / "never.json";
  const RunResult result = run_pgrace({"run", file.string(), "--report", report.string()}, without_dsn());
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr(file.string() + ": key 'workers.count' must be an integer"));
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  EXPECT_FALSE(fs::exists(report));
  const RunResult glob = run_pgrace({"run", (dir_ / "none" / "*.pgrace.toml").string()}, without_dsn());
  EXPECT_EQ(glob.exit_code, 2);
  EXPECT_THAT(glob.err, HasSubstr("no scenario file matches"));
}

// explore --workers 2: each execution starts one process per worker (one
// transaction each) and orders their requests at the proxy.
TEST_F(ScenarioFileRun, ExploreFindsTheCheckThenActsLostUpdateWithOneSwitchTheSameOnEveryRun) {
  const fs::path file = repo_root() / "examples" / "python" / "unsafe.pgrace.toml";
  std::vector<nlohmann::json> reproducers;
  for (int run = 0; run < 2; ++run) {
    const auto scenarios = run_with_report({"explore", file.string(), "--workers", "2", "--max-switches", "1"}, 0);
    ASSERT_EQ(scenarios[0]["verdict"], "violated") << scenarios[0].dump();
    const auto& x = scenarios[0]["schedules"];
    EXPECT_EQ(x["explored"], 8);
    // Both buyers read the stock before either writes it back.
    reproducers.push_back(x["minimal_reproducer"]["schedule"]);
  }
  EXPECT_EQ(reproducers[0], reproducers[1]);
  EXPECT_EQ(reproducers[0], nlohmann::json::array({"w1.begin", "w2.begin", "w1.1", "w1.2", "w1.3", "w2.1", "w2.2",
                                                   "w1.4", "w2.3", "w2.4"}));
}

TEST_F(ScenarioFileRun, ExploreHoldsForTheConditionalUpdateInEveryOrderUpToThreeSwitches) {
  const fs::path file = repo_root() / "examples" / "python" / "safe.pgrace.toml";
  const auto scenarios = run_with_report({"explore", file.string(), "--workers", "2", "--max-switches", "3"}, 0);
  EXPECT_EQ(scenarios[0]["verdict"], "held") << scenarios[0].dump();
  EXPECT_EQ(scenarios[0]["schedules"]["explored"], scenarios[0]["schedules"]["total"]);
  EXPECT_EQ(scenarios[0]["outcomes"]["committed"], 2 * scenarios[0]["schedules"]["explored"].get<int>());
}

TEST_F(ScenarioFileRun, SettingsThatDoNotReachWorkerProcessesExitTwoBeforeAServerStarts) {
  const std::string file = (repo_root() / "examples" / "python" / "safe.pgrace.toml").string();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"explore", file, "--workers", "2", "--fault", "drop_reply:commit"}, "scenario files in explore yet"},
      {{"run", file, "--pool-size", "2"}, "has no effect on worker processes"},
      {{"run", file, "--duration", "1"}, "cannot bound worker processes"},
  };
  for (const auto& [args, expected] : cases) {
    const RunResult result = run_pgrace(args, without_dsn());
    EXPECT_EQ(result.exit_code, 2) << args[2];
    EXPECT_THAT(result.err, HasSubstr(expected));
    EXPECT_THAT(result.out, ::testing::Not(HasSubstr("ephemeral"))) << "a server started";
  }
}

TEST_F(ScenarioFileRun, ListShowsTheScenariosOfTheFilesGiven) {
  const RunResult result = run_pgrace({"list", (repo_root() / "examples" / "python" / "*.pgrace.toml").string()});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("python.stock.unsafe  [expect violation: \"every sale lowers the stock\"]"));
  EXPECT_THAT(result.out, HasSubstr("python.stock.safe  [expect hold]"));
  EXPECT_THAT(result.out, ::testing::Not(HasSubstr("transfer.")));
}

}  // namespace
