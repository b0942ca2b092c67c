// Tests of pgrace::testing (pgrace/gtest.hpp): scenarios run as GoogleTest
// tests on the test program's one server.
//
// The invariant: the assertions judge what happened on the real server. A
// counter incremented by read-then-write loses updates under concurrency,
// and Violates() says so; the same counter incremented in one UPDATE keeps
// every commit, and Holds() says so. A failing assertion names the
// invariant, its witnesses, the seed and a command line that repeats the
// run with that seed. explore() runs the same counters statement by
// statement (pgrace explore --workers): the lost update is found with one
// context switch, the atomic increment holds in every order, a partial
// exploration does not pass, and what cannot be explored fails the test.
// Without PostgreSQL a scenario test is skipped, or fails
// when PGRACE_REQUIRE_SERVER=1; the seed and verdict land in GoogleTest's XML.

#include "pgrace/gtest.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest-spi.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "test_support.hpp"

namespace {

using namespace pgrace::test;
using ::testing::HasSubstr;
using ::testing::Not;

const char* const kCounts = "the counter counts every commit";

// Increments one counter per transaction; `Atomic` decides how.
template <bool Atomic>
class Counter : public pgrace::Scenario {
 public:
  static pgrace::ScenarioInfo info() {
    pgrace::Knobs knobs;
    knobs.threads = 6;
    knobs.iterations = 4;
    return {Atomic ? "test.counter_atomic" : "test.counter_read_then_write", "a counter under concurrency",
            Atomic ? pgrace::expect_hold() : pgrace::expect_violation({kCounts}), knobs};
  }
  explicit Counter(pgrace::Options& options) : think_us_(options.get_int("think_us", 1000)) {}
  std::string schema() const override { return "CREATE TABLE counter (n bigint NOT NULL);"; }
  void seed(pqxx::work& tx) override { tx.exec("INSERT INTO counter VALUES (0)"); }
  pgrace::TxResult transaction(pgrace::Worker& w) override {
    pqxx::work tx(w.connection());
    if (Atomic) {
      tx.exec("UPDATE counter SET n = n + 1");
    } else {
      const long n = tx.exec("SELECT n FROM counter")[0][0].as<long>();
      std::this_thread::sleep_for(std::chrono::microseconds(think_us_));
      tx.exec("UPDATE counter SET n = " + std::to_string(n + 1));
    }
    tx.commit();
    return pgrace::TxResult::committed;
  }
  std::vector<pgrace::Invariant> invariants() const override {
    return {pgrace::predicate(
        kCounts,
        [](const pgrace::CheckContext& c) -> std::vector<std::string> {
          const long n = c.tx.exec("SELECT n FROM counter")[0][0].as<long>();
          const long committed = c.count(pgrace::OutcomeClass::committed);
          if (n == committed) return {};
          return {"counter=" + std::to_string(n) + " after " + std::to_string(committed) + " commits"};
        },
        /*during_run=*/false)};
  }

 private:
  long think_us_;
};
using AtomicCounter = Counter<true>;
using ReadThenWriteCounter = Counter<false>;

TEST(GTestIntegration, AtomicIncrementHolds) {
  pgrace::RunSettings settings;
  settings.repeat = 3;
  const auto result = pgrace::testing::run<AtomicCounter>(settings);
  EXPECT_PGRACE_HOLDS(result);
  EXPECT_PGRACE_MATCHES(result);
  EXPECT_EQ(result.stress.repetitions, 3);
  EXPECT_EQ(result.outcomes.at(pgrace::OutcomeClass::committed), 3 * 6 * 4);
  EXPECT_FALSE(pgrace::testing::Violates(result, {kCounts}));
}

TEST(GTestIntegration, ReadThenWriteLosesUpdatesAndTheFailureExplainsIt) {
  pgrace::RunSettings settings;
  settings.repeat = 3;
  settings.seed = 4242;
  const auto result = pgrace::testing::run<ReadThenWriteCounter>(settings, {"think_us=2000"});
  EXPECT_PGRACE_VIOLATES(result, {kCounts});
  EXPECT_PGRACE_MATCHES(result);
  EXPECT_EQ(result.seed, 4242u);

  const auto holds = pgrace::testing::Holds(result);
  ASSERT_FALSE(holds);
  const std::string message = holds.message();
  EXPECT_THAT(message, HasSubstr("test.counter_read_then_write violated \"the counter counts every commit\""));
  EXPECT_THAT(message, HasSubstr("after 24 commits"));  // the witness
  EXPECT_THAT(message, HasSubstr("PGRACE_SEED=4242 "));
  EXPECT_THAT(message, HasSubstr("--gtest_filter=GTestIntegration.ReadThenWriteLosesUpdatesAndTheFailureExplainsIt"));

  const auto wrong = pgrace::testing::Violates(result, {"another invariant"});
  ASSERT_FALSE(wrong);
  EXPECT_THAT(wrong.message(), HasSubstr("expected exactly \"another invariant\""));
}

// Its witness holds bytes a terminal acts on: ESC (a colour, a new window
// title), CR (back to the start of the line), BEL.
class ControlBytesWitness : public pgrace::Scenario {
 public:
  static pgrace::ScenarioInfo info() {
    pgrace::Knobs knobs;
    knobs.threads = 1;
    knobs.iterations = 1;
    return {"test.control_bytes", "a description with \x1B[2J control bytes\r", pgrace::expect_hold(), knobs};
  }
  explicit ControlBytesWitness(pgrace::Options&) {}
  std::string schema() const override { return "CREATE TABLE t (note text NOT NULL);"; }
  void seed(pqxx::work& tx) override { tx.exec("INSERT INTO t VALUES (E'\\x1B]0;owned\\x07\\rhidden')"); }
  pgrace::TxResult transaction(pgrace::Worker&) override { return pgrace::TxResult::committed; }
  std::vector<pgrace::Invariant> invariants() const override {
    return {pgrace::predicate(
        "no notes",
        [](const pgrace::CheckContext& c) -> std::vector<std::string> {
          return {c.tx.exec("SELECT note FROM t")[0][0].as<std::string>()};
        },
        /*during_run=*/false)};
  }
};

// The failure message shows the witness's control bytes escaped, as the
// JSON and JUnit reports do (once: raw, so the terminal acted on them).
TEST(GTestIntegration, AWitnessWithControlBytesIsShownEscaped) {
  const auto result = pgrace::testing::run<ControlBytesWitness>();
  const auto holds = pgrace::testing::Holds(result);
  ASSERT_FALSE(holds);
  const std::string message = holds.message();
  EXPECT_THAT(message, HasSubstr("\\x1B]0;owned\\x07\\x0Dhidden"));
  for (char c : message) EXPECT_TRUE(c == '\n' || static_cast<unsigned char>(c) >= 0x20) << static_cast<int>(c);
}

TEST(GTestIntegration, SeedComesFromTheEnvironmentWhenSet) {
  ScopedEnv seed("PGRACE_SEED", "987654321");
  pgrace::RunSettings settings;
  settings.iterations = 1;
  settings.seed = 5;
  EXPECT_EQ(pgrace::testing::run<AtomicCounter>(settings).seed, 987654321u);
}

// The atomic counter on a connection pool, and as an interleave scenario:
// neither can be explored statement by statement.
struct PooledCounter : AtomicCounter {
  using AtomicCounter::AtomicCounter;
  static pgrace::ScenarioInfo info() {
    auto info = AtomicCounter::info();
    info.name = "test.counter_pooled";
    info.defaults.pool.size = 2;
    return info;
  }
};
struct SteppedCounter : AtomicCounter {
  using AtomicCounter::AtomicCounter;
  static pgrace::ScenarioInfo info() {
    auto info = AtomicCounter::info();
    info.name = "test.counter_stepped";
    return info;
  }
  std::vector<pgrace::Session> sessions() const override {
    return {{"s1", "", {pgrace::sql_step("s1.add", "UPDATE counter SET n = n + 1")}}};
  }
};

pgrace::testing::ExploreSettings with_workers(int workers) {
  pgrace::testing::ExploreSettings settings;
  settings.workers = workers;
  return settings;
}

// explore(): two read-then-write increments lose one when the second reads
// before the first commits (one context switch: w1 reads and writes, w2
// reads and waits for w1's row lock, w1 commits); the failure message shows
// that order.
TEST(GTestIntegration, ExploreFindsTheLostUpdateWithOneSwitch) {
  pgrace::testing::ExploreSettings settings;
  settings.max_switches = 1;
  settings.seed = 77;
  const auto result = pgrace::testing::explore<ReadThenWriteCounter>(settings, {"think_us=0"});
  EXPECT_PGRACE_VIOLATES(result, {kCounts});
  EXPECT_PGRACE_MATCHES(result);
  EXPECT_EQ(result.mode, pgrace::Mode::interleave);
  EXPECT_EQ(result.exploration.statement_workers, 2);
  EXPECT_EQ(result.exploration.max_switches, 1);
  EXPECT_TRUE(result.exploration.stopped.empty()) << result.exploration.stopped;
  ASSERT_TRUE(result.exploration.reproducer);
  for (const auto& step : result.exploration.reproducer->steps)  // w2.2 waits for w1's row lock
    EXPECT_EQ(step.blocked_by, step.waited ? std::vector<std::string>{"w1"} : std::vector<std::string>{}) << step.step;

  const auto holds = pgrace::testing::Holds(result);
  ASSERT_FALSE(holds);
  EXPECT_THAT(holds.message(), HasSubstr("minimal reproducer: w1.begin w2.begin w1.1 w1.2 w2.1 w2.2 w1.3 w2.3"));
  EXPECT_THAT(holds.message(), HasSubstr("       w2.1      SELECT n FROM counter\n"));
  EXPECT_THAT(holds.message(), HasSubstr("       w2.2      (waited) UPDATE counter SET n = 1\n"));
  EXPECT_THAT(holds.message(), HasSubstr("PGRACE_SEED=77 "));
}

// Three workers' atomic increments hold in every order; every execution
// there is was run.
TEST(GTestIntegration, ExploreOfAtomicIncrementsHoldsInEveryOrder) {
  const auto result = pgrace::testing::explore<AtomicCounter>(with_workers(3));
  EXPECT_PGRACE_HOLDS(result);
  EXPECT_EQ(result.exploration.statement_workers, 3);
  EXPECT_GT(result.exploration.explored, 1);
  EXPECT_EQ(result.exploration.explored, static_cast<long>(result.exploration.total));
  EXPECT_FALSE(pgrace::testing::Violates(result, {kCounts}));
}

// ExploreSettings::shard: the two shards of three workers' atomic
// increments explore, between them, every execution one explore() does.
TEST(GTestIntegration, ExploreShardsTogetherExploreEveryExecution) {
  pgrace::testing::ExploreSettings settings = with_workers(3);
  settings.seed = 5;
  const long whole = pgrace::testing::explore<AtomicCounter>(settings).exploration.explored;
  long shards = 0;
  for (int index = 1; index <= 2; ++index) {
    settings.shard = pgrace::ExplorationShard{index, 2};
    const auto result = pgrace::testing::explore<AtomicCounter>(settings);
    EXPECT_PGRACE_HOLDS(result);
    ASSERT_TRUE(result.exploration.shard);
    EXPECT_GT(result.exploration.explored, 0);
    shards += result.exploration.explored;
  }
  EXPECT_EQ(shards, whole);
}

TEST(GTestIntegration, APartialExplorationIsNotAPass) {
  pgrace::testing::ExploreSettings settings;
  settings.max_schedules = 2;
  const auto result = pgrace::testing::explore<AtomicCounter>(settings);
  EXPECT_EQ(result.verdict, pgrace::Verdict::error) << result.error;
  EXPECT_EQ(result.exploration.explored, 2);
  const auto holds = pgrace::testing::Holds(result);
  ASSERT_FALSE(holds);
  EXPECT_THAT(holds.message(), HasSubstr("did not run to a verdict: the exploration stopped after 2 executions, at "
                                         "--max-schedules 2"));
  EXPECT_THAT(holds.message(), HasSubstr("a partial exploration is not a pass"));
}

TEST(GTestIntegration, ExploreFailsTheTestForWhatItCannotRun) {
  EXPECT_NONFATAL_FAILURE(pgrace::testing::explore<AtomicCounter>(with_workers(1)),
                          "statement_workers must be from 2 to 8, got 1");
  EXPECT_NONFATAL_FAILURE(pgrace::testing::explore<AtomicCounter>(with_workers(9)), "from 2 to 8, got 9");
  EXPECT_NONFATAL_FAILURE(pgrace::testing::explore<PooledCounter>(), "test.counter_pooled: it uses a connection pool");
  EXPECT_NONFATAL_FAILURE(pgrace::testing::explore<SteppedCounter>(), "test.counter_stepped is an interleave scenario");
}

// The settings a stress scenario's workers use do nothing for an interleave
// scenario: refused, as the command line refuses them.
TEST(GTestIntegration, RunRefusesSettingsThatDoNothing) {
  pgrace::RunSettings settings;
  settings.threads = 4;
  EXPECT_NONFATAL_FAILURE(pgrace::testing::run<SteppedCounter>(settings),
                          "RunSettings::threads does nothing for test.counter_stepped");
}

// A run that never started has no summary, no seed and no reproducer to
// show: the failure says what was wrong, and only that.
TEST(GTestIntegration, AFailureOfARunThatNeverStartedShowsOnlyTheError) {
  pgrace::RunSettings settings;
  settings.threads = 0;
  pgrace::ScenarioResult result;
  EXPECT_NONFATAL_FAILURE(result = pgrace::testing::run<AtomicCounter>(settings), "threads must be from 1 to 256");
  const auto holds = pgrace::testing::Holds(result);
  ASSERT_FALSE(holds);
  EXPECT_THAT(holds.message(), HasSubstr("did not run to a verdict: threads must be from 1 to 256, got 0"));
  EXPECT_THAT(holds.message(), Not(HasSubstr("tx/s")));
  EXPECT_THAT(holds.message(), Not(HasSubstr("reproduce:")));
}

// Run only in a child process (see below): a scenario test as a user writes it.
TEST(GTestIntegration, DISABLED_Probe) {
  pgrace::RunSettings settings;
  settings.iterations = 1;
  EXPECT_PGRACE_HOLDS(pgrace::testing::run<AtomicCounter>(settings));
}

// Runs this test program's probe test in a child with `env`.
RunResult run_probe(const EnvOverrides& env, const std::string& xml = "") {
  std::vector<std::string> argv = {fs::read_symlink("/proc/self/exe").string(), "--gtest_also_run_disabled_tests",
                                   "--gtest_filter=GTestIntegration.DISABLED_Probe"};
  if (!xml.empty()) argv.push_back("--gtest_output=xml:" + xml);
  return run(argv, without_dsn(env));
}

TEST(GTestIntegration, WithoutPostgresqlTheTestIsSkippedOrFailsWhenRequired) {
  TempDir empty;  // a bin directory without postgres or initdb
  const auto skipped = run_probe({{"PGRACE_PG_BINDIR", empty.path().string()}});
  EXPECT_EQ(skipped.exit_code, 0) << skipped.out << skipped.err;
  EXPECT_THAT(skipped.out, HasSubstr("[  SKIPPED ] GTestIntegration.DISABLED_Probe"));
  EXPECT_THAT(skipped.out, HasSubstr("PGRACE_REQUIRE_SERVER=1"));

  const auto failed = run_probe({{"PGRACE_PG_BINDIR", empty.path().string()}, {"PGRACE_REQUIRE_SERVER", "1"}});
  EXPECT_EQ(failed.exit_code, 1) << failed.out << failed.err;
  EXPECT_THAT(failed.out, HasSubstr("[  FAILED  ] GTestIntegration.DISABLED_Probe"));
}

TEST(GTestIntegration, SeedAndVerdictAreRecordedInGoogleTestXml) {
  TempDir dir;
  const std::string xml = (dir.path() / "out.xml").string();
  const auto result = run_probe({{"PGRACE_SEED", "31337"}}, xml);
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  std::ifstream in(xml);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_THAT(text.str(), HasSubstr("\"31337\""));
  EXPECT_THAT(text.str(), HasSubstr("pgrace_seed"));
  EXPECT_THAT(text.str(), HasSubstr("pgrace_verdict"));
  EXPECT_THAT(text.str(), HasSubstr("\"held\""));
}

}  // namespace

namespace {

const pgrace::ScenarioDefinition& registered(const std::string& name) {
  for (const auto& d : pgrace::registered_scenarios())
    if (d.info.name == name) return d;
  throw std::logic_error("no scenario " + name);
}

// ExploreSettings::faults replaces the scenario's rules: every drop at every
// request leaves the idempotent payment whole; no faults leave the naive
// one whole too (its bug needs the lost reply).
TEST(GTestIntegration, ExploreTakesFaultRules) {
  pgrace::testing::ExploreSettings settings;
  settings.max_switches = 1;
  settings.draws = 2;
  settings.faults = std::vector<pgrace::FaultRule>{{pgrace::FaultKind::drop_reply, pgrace::FaultTarget::any, 1, {}}};
  const auto faulted = pgrace::testing::explore(registered("payment.idempotent_retry"), settings);
  EXPECT_PGRACE_HOLDS(faulted);
  EXPECT_GT(faulted.exploration.faulted, 0);

  settings.faults = std::vector<pgrace::FaultRule>{};
  const auto plain = pgrace::testing::explore(registered("payment.retry_any_error"), settings);
  EXPECT_PGRACE_HOLDS(plain);
  EXPECT_EQ(plain.exploration.faulted, 0);
}

}  // namespace
