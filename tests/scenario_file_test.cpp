// Scenario files (*.pgrace.toml) without a server: every malformed file is
// refused with one line naming the file, the key and the fix (the command
// line makes it exit 2); a well-formed one keeps every key it was given;
// options are substituted into its SQL; and the wire gate classifies a
// worker's transactions from the requests the proxy saw.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "core/session_setup.hpp"
#include "files/database_url.hpp"
#include "files/file_scenario.hpp"
#include "files/process_gate.hpp"
#include "files/scenario_file.hpp"
#include "pgrace/error.hpp"
#include "pgrace/options.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kWorkers = "[workers]\ncommand = [\"/bin/true\"]\n";
const std::string kInvariant = "[[invariant]]\nname = \"n\"\nno_rows = \"SELECT 1 WHERE false\"\n";
const std::string kMinimal = "name = \"t.x\"\n" + kWorkers + kInvariant;

class ScenarioFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("pgrace-file-test-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    write("schema.sql", "CREATE TABLE t (id int);");
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return dir_ / name;
  }
  // The one-line error loading `text` gives (fails the test if it loads).
  std::string error_of(const std::string& text) {
    const fs::path path = write("x.pgrace.toml", text);
    try {
      pgrace::files::load_scenario_file(path);
    } catch (const pgrace::Error& e) {
      EXPECT_EQ(e.code(), pgrace::ExitCode::usage);
      const std::string message = e.what();
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
      EXPECT_THAT(message, HasSubstr(path.string()));
      return message;
    }
    ADD_FAILURE() << "loaded: " << text;
    return "";
  }

  fs::path dir_;
};

TEST_F(ScenarioFileTest, EveryKeyOfAWellFormedFileIsKept) {
  write("seed.sql", "INSERT INTO t VALUES (${n});");
  const auto file = pgrace::files::load_scenario_file(write("ok.pgrace.toml", R"(
name = "shop.x"
description = "d"
expect = ["a"]
isolation = "repeatable read"
[options]
n = 3
label = "x"
[database]
schema = ["schema.sql"]
seed_file = "seed.sql"
[workers]
command = ["/bin/true", "arg"]
count = 3
iterations = 7
sync = "start"
[[invariant]]
name = "a"
no_rows = "SELECT 1"
[[invariant]]
name = "b"
sql = "SELECT 2"
equals = "2"
[[invariant]]
name = "c"
command = ["/bin/true"]
)"));
  EXPECT_EQ(file.name, "shop.x");
  EXPECT_EQ(file.description, "d");
  EXPECT_EQ(file.expect, std::vector<std::string>{"a"});
  EXPECT_EQ(file.isolation, pgrace::Isolation::repeatable_read);
  EXPECT_EQ(file.options.at("n"), "3");
  EXPECT_EQ(file.options.at("label"), "x");
  EXPECT_EQ(file.schema, std::vector<std::string>{"CREATE TABLE t (id int);"});
  EXPECT_EQ(file.seed, "INSERT INTO t VALUES (${n});");
  EXPECT_EQ(file.command, (std::vector<std::string>{"/bin/true", "arg"}));
  EXPECT_EQ(file.count, 3);
  EXPECT_EQ(file.iterations, 7);
  EXPECT_EQ(file.sync, pgrace::Sync::start);
  ASSERT_EQ(file.invariants.size(), 3u);
  EXPECT_EQ(file.invariants[0].no_rows, "SELECT 1");
  EXPECT_EQ(file.invariants[1].equals, "2");
  EXPECT_EQ(file.invariants[2].command, std::vector<std::string>{"/bin/true"});
  EXPECT_EQ(file.folder, dir_);
}

TEST_F(ScenarioFileTest, DefaultsAreFourWorkersOfTwentyIterationsInRoundsExpectingHold) {
  const auto file = pgrace::files::load_scenario_file(write("ok.pgrace.toml", "expect = \"hold\"\n" + kMinimal));
  EXPECT_EQ(file.count, 4);
  EXPECT_EQ(file.iterations, 20);
  EXPECT_EQ(file.sync, pgrace::Sync::round);
  EXPECT_TRUE(file.expect.empty());
}

TEST_F(ScenarioFileTest, MalformedFilesAreRefusedInOneLineNamingTheKey) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"name = ", "not valid TOML"},
      {kWorkers + kInvariant, "key 'name' is required"},
      {"nmae = \"y\"\n" + kMinimal, "key 'nmae' is unknown"},
      {"name = 3\n" + kWorkers + kInvariant, "key 'name' must be a string"},
      {"name = \"t\"\n" + kInvariant, "key 'workers' is required"},
      {"name = \"t\"\n[workers]\ncount = 2\n" + kInvariant, "key 'workers.command' is required"},
      {"name = \"t\"\n[workers]\ncommand = []\n" + kInvariant, "key 'workers.command' must be a non-empty array"},
      {"name = \"t\"\n[workers]\ncommand = \"x\"\n" + kInvariant, "key 'workers.command' must be a non-empty array"},
      {"name = \"t\"\n[workers]\ncommand = [1]\n" + kInvariant, "key 'workers.command' must be an array of strings"},
      {"name = \"t\"\n" + kWorkers + "count = \"4\"\n" + kInvariant, "key 'workers.count' must be an integer"},
      {"name = \"t\"\n" + kWorkers + "count = 0\n" + kInvariant, "key 'workers.count' must be an integer from 1"},
      {"name = \"t\"\n" + kWorkers + "iterations = -1\n" + kInvariant, "key 'workers.iterations' must be"},
      {"name = \"t\"\n" + kWorkers + "sync = \"often\"\n" + kInvariant, "key 'workers.sync' must be \"round\""},
      {"name = \"t\"\n" + kWorkers + "threads = 2\n" + kInvariant, "key 'workers.threads' is unknown"},
      {"name = \"t\"\nisolation = \"snapshot\"\n" + kWorkers + kInvariant, "key 'isolation' must be"},
      {"name = \"t\"\nworkers = 3\n" + kInvariant, "key 'workers' must be a table"},
      {kMinimal + "[database]\nschema = [\"missing.sql\"]\n", "key 'database.schema' names 'missing.sql'"},
      {kMinimal + "[database]\nseed_file = \"missing.sql\"\n", "key 'database.seed_file' names 'missing.sql'"},
      {kMinimal + "[database]\nseed = \"x\"\nseed_file = \"schema.sql\"\n", "key 'database.seed_file' cannot be given"},
      {kMinimal + "[database]\nmigrate = [\"npx\"]\n", "key 'database.migrate' is not supported yet"},
      {kMinimal + "[database]\ninputs = [\"a\"]\n", "key 'database.inputs' is not supported yet"},
      {kMinimal + "[database]\nschemas = [\"schema.sql\"]\n", "key 'database.schemas' is unknown"},
      {kMinimal + "[options]\nStock = 3\n", "key 'options.Stock' is not a valid option name"},
      {kMinimal + "[options]\nstock = [3]\n", "key 'options.stock' must be a string, number or boolean"},
      {"name = \"t\"\n" + kWorkers, "key 'invariant' is required"},
      {"name = \"t\"\n" + kWorkers + "[[invariant]]\nname = \"a\"\n", "give exactly one of them"},
      {"name = \"t\"\n" + kWorkers + "[[invariant]]\nname = \"a\"\nno_rows = \"x\"\ncommand = [\"y\"]\n",
       "give exactly one of them"},
      {"name = \"t\"\n" + kWorkers + "[[invariant]]\nname = \"a\"\nsql = \"x\"\n",
       "key 'invariant[1].equals' goes with sql"},
      {"name = \"t\"\n" + kWorkers + "[[invariant]]\nname = \"a\"\nno_rows = \"x\"\nequals = \"1\"\n",
       "key 'invariant[1].equals' goes with sql"},
      {"name = \"t\"\n" + kWorkers + "[[invariant]]\nno_rows = \"x\"\n", "key 'invariant[1].name' is required"},
      {"name = \"t\"\n" + kWorkers + "[[invariant]]\nname = \"a\"\nno_row = \"x\"\n", "give exactly one"},
      {"name = \"t\"\n" + kWorkers + kInvariant + kInvariant, "key 'invariant' names 'n' twice"},
      {"name = \"t\"\nexpect = [\"m\"]\n" + kWorkers + kInvariant, "key 'expect' names 'm', which no [[invariant]]"},
      {"name = \"t\"\nexpect = \"violation\"\n" + kWorkers + kInvariant, "key 'expect' must be a non-empty array"},
  };
  for (const auto& [text, expected] : cases) EXPECT_THAT(error_of(text), HasSubstr(expected)) << text;
}

TEST_F(ScenarioFileTest, AMissingFileIsRefusedNamingIt) {
  try {
    pgrace::files::load_scenario_file(dir_ / "none.pgrace.toml");
    FAIL() << "loaded a missing file";
  } catch (const pgrace::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("none.pgrace.toml: no such scenario file"));
  }
}

TEST_F(ScenarioFileTest, OptionsAreSubstitutedAndGivenValuesOverrideTheDefaults) {
  auto file = std::make_shared<const pgrace::files::ScenarioFile>(pgrace::files::load_scenario_file(write(
      "ok.pgrace.toml", kMinimal + "[options]\nstock = 30\n[database]\nseed = \"INSERT INTO t VALUES (${stock})\"\n")));
  pgrace::Options defaults;
  EXPECT_EQ(pgrace::files::FileScenario(file, defaults).options().at("stock"), "30");
  pgrace::Options given({"stock=7"});
  pgrace::files::FileScenario scenario(file, given);
  EXPECT_EQ(scenario.options().at("stock"), "7");
  EXPECT_TRUE(given.unread().empty());
}

TEST_F(ScenarioFileTest, AnUndefinedOptionInAnInvariantIsNamedByItsKey) {
  auto file = std::make_shared<const pgrace::files::ScenarioFile>(pgrace::files::load_scenario_file(
      write("c.pgrace.toml",
            "name = \"t\"\n" + kWorkers + "[[invariant]]\nname = \"a\"\nsql = \"SELECT ${x}\"\nequals = \"1\"\n")));
  pgrace::Options options;
  try {
    pgrace::files::FileScenario scenario(file, options);
    FAIL() << "made a scenario with ${x} undefined";
  } catch (const pgrace::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("key 'invariant[1].sql' uses ${x}, which is no option: define x under [options]"));
  }
}

TEST_F(ScenarioFileTest, AnUndefinedOptionInSqlAndAMissingProgramAreUsageErrors) {
  auto file = std::make_shared<const pgrace::files::ScenarioFile>(pgrace::files::load_scenario_file(
      write("a.pgrace.toml", kMinimal + "[database]\nseed = \"INSERT INTO t VALUES (${stokc})\"\n")));
  pgrace::Options options;
  EXPECT_THROW(
      try { pgrace::files::FileScenario(file, options); } catch (const pgrace::Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("key 'database.seed' uses ${stokc}, which is no option"));
        throw;
      },
      pgrace::Error);
  auto missing = std::make_shared<const pgrace::files::ScenarioFile>(pgrace::files::load_scenario_file(
      write("b.pgrace.toml", "name = \"t\"\n[workers]\ncommand = [\"no-such-program-pgrace\"]\n" + kInvariant)));
  EXPECT_THROW(
      try { pgrace::files::FileScenario(missing, options); } catch (const pgrace::Error& e) {
        EXPECT_THAT(e.what(),
                    HasSubstr("key 'workers.command' runs 'no-such-program-pgrace', which is not found on PATH"));
        throw;
      },
      pgrace::Error);
}

TEST(DatabaseUrl, ASocketDirectoryAndAPasswordArePercentEncoded) {
  const std::string url =
      pgrace::files::database_url("host='/tmp/a b' port=5433 user=me password=p@ss/w dbname=db1", "pgrace-worker-0");
  EXPECT_EQ(url, "postgresql://me:p%40ss%2Fw@%2Ftmp%2Fa%20b:5433/db1?application_name=pgrace-worker-0&sslmode=disable");
  const auto env = pgrace::files::libpq_environment("host=/tmp/a port=5433 user=me dbname=db1", "w");
  EXPECT_EQ(env.at("PGHOST"), "/tmp/a");
  EXPECT_EQ(env.at("PGAPPNAME"), "w");
  EXPECT_EQ(env.count("PGPASSWORD"), 0u);
}

// Requests as the proxy reports them for one connection of worker 0.
pgrace::detail::WireRequest request(const std::string& sql, char status, const std::string& sqlstate = "",
                                    int pid = 1) {
  pgrace::detail::WireRequest q;
  q.client = pgrace::detail::worker_session_name(0);
  q.backend_pid = pid;
  q.sql = sql;
  q.status = status;
  q.sqlstate = sqlstate;
  q.completed = true;
  q.executes = true;
  return q;
}

TEST(ProcessGate, TransactionsAreClassifiedFromTheWire) {
  pgrace::files::ProcessGate gate(1, pgrace::Sync::round, std::chrono::milliseconds(10));
  const auto send = [&gate](const pgrace::detail::WireRequest& q) {
    gate.before_request(q);
    gate.after_request(q);
  };
  send(request("BEGIN", 'T'));
  send(request("UPDATE t SET x = 1", 'T'));
  send(request("COMMIT", 'I'));  // committed
  send(request("BEGIN", 'T'));
  send(request("ROLLBACK", 'I'));  // rejected
  send(request("BEGIN", 'T'));
  send(request("UPDATE t SET x = 1", 'E', "40001"));
  send(request("ROLLBACK", 'I'));                           // serialization failure
  send(request("INSERT INTO t VALUES (1)", 'I', "23505"));  // autocommit: constraint violation
  send(request("SELECT 1", 'I'));                           // autocommit: committed
  send(request("BEGIN", 'T', "", 2));                       // left open on another connection: dropped
  const auto seen = gate.outcomes();
  using pgrace::OutcomeClass;
  EXPECT_EQ(seen.outcomes, (std::map<OutcomeClass, long>{{OutcomeClass::committed, 2},
                                                         {OutcomeClass::rejected, 1},
                                                         {OutcomeClass::serialization_failure, 1},
                                                         {OutcomeClass::constraint_violation, 1},
                                                         {OutcomeClass::connection_dropped, 1}}));
  EXPECT_EQ(seen.sqlstates, (std::map<std::string, long>{{"40001", 1}, {"23505", 1}}));
  ASSERT_TRUE(seen.first_failure);
  EXPECT_EQ(seen.first_failure->sqlstate, "40001");
}

TEST(ProcessGate, ALostCommitReplyIsIndeterminateAndAnotherDroppedRequestADroppedConnection) {
  pgrace::files::ProcessGate gate(1, pgrace::Sync::round, std::chrono::milliseconds(10));
  const auto send = [&gate](pgrace::detail::WireRequest q, std::optional<pgrace::FaultKind> fault = std::nullopt) {
    q.fault = fault;
    gate.before_request(q);
    gate.after_request(q);
  };
  send(request("BEGIN", 'T', "", 1));
  send(request("COMMIT", 'I', "", 1), pgrace::FaultKind::drop_reply);  // it committed; the client cannot know
  send(request("BEGIN", 'T', "", 2));
  send(request("UPDATE t SET x = 1", 'T', "", 2), pgrace::FaultKind::drop_reply);  // rolled back with its connection
  using pgrace::OutcomeClass;
  EXPECT_EQ(gate.outcomes().outcomes,
            (std::map<OutcomeClass, long>{{OutcomeClass::indeterminate, 1}, {OutcomeClass::connection_dropped, 1}}));
}

TEST(ProcessGate, ATransactionLastsFromItsFirstRequestsStartToItsLastRequestsEnd) {
  pgrace::files::ProcessGate gate(1, pgrace::Sync::round, std::chrono::milliseconds(10));
  const auto t0 = pgrace::detail::Clock::now();
  auto begin = request("BEGIN", 'T');
  begin.started = t0;
  begin.ended = t0 + std::chrono::milliseconds(1);
  auto commit = request("COMMIT", 'I');
  commit.started = t0 + std::chrono::milliseconds(3);
  commit.ended = t0 + std::chrono::milliseconds(5);
  for (const auto& q : {begin, commit}) {
    gate.before_request(q);
    gate.after_request(q);
  }
  ASSERT_EQ(gate.outcomes().latencies_ms.size(), 1u);
  EXPECT_DOUBLE_EQ(gate.outcomes().latencies_ms[0], 5.0);
}

TEST(ProcessGate, ATransactionWaitsForTheOtherWorkersAtTheBarrierUntilTheyExit) {
  pgrace::files::ProcessGate gate(2, pgrace::Sync::round, std::chrono::seconds(30));
  const auto started = std::chrono::steady_clock::now();
  std::thread other([&gate] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    gate.exited(1);
  });
  gate.before_request(request("BEGIN", 'T'));
  const auto waited = std::chrono::steady_clock::now() - started;
  other.join();
  EXPECT_GE(waited, std::chrono::milliseconds(190));
  EXPECT_LT(waited, std::chrono::seconds(10));
}

}  // namespace
