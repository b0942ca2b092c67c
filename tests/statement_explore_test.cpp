// Statement-level exploration (pgrace explore NAME --workers N) on a real
// ephemeral PostgreSQL: a stress scenario's unchanged transaction() runs on
// N workers through pgrace's wire proxy, one request at a time. The race of
// an unsafe transfer must be found in every run, with the same reproducer,
// at most two context switches; its safe twins must hold in every
// execution up to three; a reproducer replayed with --schedule must show
// the same violation.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "pgrace/error.hpp"
#include "pgrace/runner.hpp"
#include "pgrace/scenario.hpp"
#include "pgrace/server.hpp"
#include "scenario_support.hpp"
#include "statement/explorer.hpp"

namespace {

using namespace pgrace::test;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A counter incremented by read-modify-write: the lost update needs one
// preemption (both read before either writes).
class Counter : public pgrace::Scenario {
 public:
  explicit Counter(bool locked) : locked_(locked) {}
  std::string schema() const override { return "CREATE TABLE counter (id int PRIMARY KEY, v int NOT NULL)"; }
  void seed(pqxx::work& tx) override { tx.exec("INSERT INTO counter VALUES (1, 0)"); }
  pgrace::TxResult transaction(pgrace::Worker& w) override {
    pqxx::work tx(w.connection());
    const int v =
        tx.exec1(locked_ ? "SELECT v FROM counter WHERE id = 1 FOR UPDATE" : "SELECT v FROM counter WHERE id = 1")[0]
            .as<int>();
    tx.exec0("UPDATE counter SET v = " + std::to_string(v + 1) + " WHERE id = 1");
    tx.commit();
    return pgrace::TxResult::committed;
  }
  std::vector<pgrace::Invariant> invariants() const override {
    return {every_increment_counts("SELECT v FROM counter")};
  }

 private:
  bool locked_;
};

pgrace::ScenarioInfo counter_info(bool locked) {
  return {locked ? "test.counter_locked" : "test.counter", "",
          locked ? pgrace::expect_hold() : pgrace::expect_violation({"every increment counts"}), pgrace::Knobs{}};
}

class StatementExplore : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!server_) server_ = pgrace::Server::open(std::nullopt);
  }
  static void TearDownTestSuite() { server_.reset(); }

  static pgrace::ScenarioResult explore(bool locked, pgrace::RunSettings settings = {}) {
    Counter scenario(locked);
    if (!settings.statement_workers) settings.statement_workers = 2;
    return pgrace::run_scenario(*server_, counter_info(locked), scenario, settings);
  }
  static std::unique_ptr<pgrace::Server> server_;
};
std::unique_ptr<pgrace::Server> StatementExplore::server_;

TEST(StatementChoices, StepNamesStandForWorkers) {
  EXPECT_THAT(pgrace::detail::choices_of({"w1.1", "w1.begin", "w2.1", "w1.2"}, 2), ElementsAre(0, 1, 0));
  EXPECT_THROW(pgrace::detail::choices_of({"w3.1"}, 2), pgrace::Error);
  EXPECT_THROW(pgrace::detail::choices_of({"x1.1"}, 2), pgrace::Error);
  EXPECT_THROW(pgrace::detail::choices_of({"w1"}, 2), pgrace::Error);
  EXPECT_THROW(pgrace::detail::choices_of({"w0.1"}, 2), pgrace::Error);
}

// A schedule names each worker's requests in their order, once each, as
// the reproducer prints them: one that skips or repeats a request names a
// request that does not exist, and is refused naming the one that would.
TEST(StatementChoices, RequestsOutOfOrderAreRefusedNamingTheNextOne) {
  const auto refusal = [](const std::vector<std::string>& schedule) {
    try {
      pgrace::detail::choices_of(schedule, 2);
    } catch (const pgrace::Error& e) {
      EXPECT_EQ(e.code(), pgrace::ExitCode::usage);
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_THAT(refusal({"w2.9", "w1.7"}),
              HasSubstr("step 'w2.9' is out of order: worker w2's next request there is w2.1"));
  EXPECT_THAT(refusal({"w1.1", "w1.1"}),
              HasSubstr("step 'w1.1' is out of order: worker w1's next request there is w1.2"));
  EXPECT_THAT(refusal({"w1.1", "w2.begin", "w2.2"}), HasSubstr("'w2.2' is out of order"));
  EXPECT_EQ(refusal({"w1.begin", "w1.1", "w2.1", "w2.2!drop_reply", "w1.2"}), "accepted");
}

TEST_F(StatementExplore, TheLostUpdateIsFoundWithOneSwitchOnEveryRun) {
  std::string first;
  for (int run = 0; run < 3; ++run) {
    const auto r = explore(false);
    ASSERT_EQ(r.verdict, pgrace::Verdict::violated) << r.error;
    EXPECT_TRUE(r.matched);
    ASSERT_TRUE(r.exploration.reproducer);
    EXPECT_EQ(r.exploration.statement_workers, 2);
    EXPECT_EQ(pgrace::detail::preemptions_of(*r.exploration.reproducer), 1)
        << joined(r.exploration.reproducer->schedule);
    const std::string schedule = joined(r.exploration.reproducer->schedule);
    if (run == 0) first = schedule;
    EXPECT_EQ(schedule, first) << "the reproducer differs between runs";
    // Two workers x (SELECT, UPDATE, COMMIT) and their BEGINs.
    EXPECT_EQ(r.exploration.reproducer->steps.size(), 8u) << schedule;
    EXPECT_GT(r.exploration.explored, 1);
    EXPECT_EQ(r.exploration.infeasible, 0);
  }
}

TEST_F(StatementExplore, ForUpdateHoldsInEveryExecutionUpToThreeSwitches) {
  pgrace::RunSettings settings;
  settings.max_switches = 3;
  const auto r = explore(true, settings);
  EXPECT_EQ(r.verdict, pgrace::Verdict::held) << r.error;
  EXPECT_TRUE(r.exploration.stopped.empty()) << r.exploration.stopped;
  EXPECT_GT(r.exploration.explored - r.exploration.infeasible, 1);
  bool some_waited = false;
  for (const auto& s : r.exploration.held_schedules)
    for (const auto& step : s.steps) some_waited = some_waited || step.waited;
  EXPECT_TRUE(some_waited) << "no execution had one worker wait for the other's lock";
}

TEST_F(StatementExplore, TheReproducerReplaysWithSchedule) {
  const auto found = explore(false);
  ASSERT_TRUE(found.exploration.reproducer);
  pgrace::RunSettings settings;
  settings.schedules = {found.exploration.reproducer->schedule};
  const auto replayed = explore(false, settings);
  EXPECT_EQ(replayed.verdict, pgrace::Verdict::violated) << replayed.error;
  ASSERT_TRUE(replayed.exploration.reproducer);
  EXPECT_EQ(replayed.exploration.explored, 1);
  EXPECT_EQ(joined(replayed.exploration.reproducer->schedule), joined(found.exploration.reproducer->schedule));
}

// A replayed schedule that names a request its worker never sent (each
// worker sends SELECT, UPDATE, COMMIT: three) is a usage error naming the
// step and the requests there were, not some other execution.
TEST_F(StatementExplore, ARequestPastAWorkersLastIsAUsageError) {
  pgrace::RunSettings settings;
  settings.schedules = {{"w1.1", "w1.2", "w1.3", "w1.4", "w2.1"}};
  try {
    explore(false, settings);
    FAIL() << "the schedule was accepted";
  } catch (const pgrace::Error& e) {
    EXPECT_EQ(e.code(), pgrace::ExitCode::usage);
    EXPECT_THAT(e.what(), HasSubstr("--schedule step 'w1.4' names no request: worker w1 sent only w1.1 to w1.3"));
  }
}

// A partial exploration is never a plain pass: stopped by --max-schedules
// or by --budget before any violation, it is verdict "error" with the same
// words, whichever limit stopped it.
TEST_F(StatementExplore, StoppingEarlyWithoutAViolationIsAnErrorWhicheverLimitStoppedIt) {
  pgrace::RunSettings by_count;
  by_count.max_schedules = 2;
  const auto counted = explore(true, by_count);
  EXPECT_EQ(counted.verdict, pgrace::Verdict::error);
  EXPECT_FALSE(counted.matched);
  EXPECT_EQ(counted.exploration.explored, 2);
  EXPECT_THAT(counted.error, HasSubstr("the exploration stopped after 2 executions, at --max-schedules 2 and no "
                                       "execution violated an invariant: a partial exploration is not a pass"));
  pgrace::RunSettings by_time;
  by_time.budget_s = 0.1;
  by_time.statement_workers = 4;  // thousands of executions: far more than 0.1 s
  const auto timed = explore(true, by_time);
  ASSERT_FALSE(timed.exploration.stopped.empty()) << "every execution ran within the 0.1 s budget";
  EXPECT_EQ(timed.verdict, pgrace::Verdict::error);
  const std::string words =
      " and no execution violated an invariant: a partial exploration is not a pass; raise "
      "--max-schedules or --budget, or bound the search with --max-switches";
  EXPECT_THAT(timed.error, HasSubstr("(--budget) ran out" + words));
  EXPECT_THAT(counted.error, HasSubstr(words));
}

// A run that times out says what a finished one says: the exploration is
// at statement level (its reproducer counts preemptions, one terminal per
// worker), with its bound and the executions known so far. The locked
// counter with four workers has thousands of executions and no violation
// to stop early at, so 0.1 s cannot be enough on any machine.
TEST_F(StatementExplore, ATimedOutExplorationStillSaysItIsAtStatementLevel) {
  pgrace::RunSettings settings;
  settings.timeout_s = 0.1;
  settings.max_switches = 5;
  settings.statement_workers = 4;
  const auto r = explore(true, settings);
  ASSERT_EQ(r.verdict, pgrace::Verdict::error) << "the exploration finished within 0.1 s";
  EXPECT_THAT(r.error, HasSubstr("time limit"));
  EXPECT_EQ(r.exploration.statement_workers, 4);
  EXPECT_EQ(r.exploration.max_switches, 5);
  EXPECT_GT(r.exploration.total, static_cast<std::uint64_t>(r.exploration.explored));
}

TEST_F(StatementExplore, TheRecordHoldsEachRequestsSqlAndStatus) {
  const auto r = explore(false);
  ASSERT_TRUE(r.exploration.reproducer);
  const auto& steps = r.exploration.reproducer->steps;
  bool saw_select = false, saw_commit = false;
  for (const auto& step : steps) {
    saw_select = saw_select || step.sql.find("SELECT v FROM counter") != std::string::npos;
    saw_commit = saw_commit || step.sql == "COMMIT";
    EXPECT_EQ(step.outcome, pgrace::StepOutcome::ok) << step.step << ": " << step.sql;
  }
  EXPECT_TRUE(saw_select);
  EXPECT_TRUE(saw_commit);
}

}  // namespace

namespace {

pgrace::ScenarioResult explore_registered(const std::string& name, std::uint64_t seed,
                                          std::optional<int> max_switches) {
  static std::unique_ptr<pgrace::Server> server = pgrace::Server::open(std::nullopt);
  pgrace::RunSettings settings;
  settings.statement_workers = 2;
  settings.seed = seed;
  settings.max_switches = max_switches;
  return run_registered(*server, name, settings);
}

// The bundled transfers, unchanged code: the unsafe ones violate with a
// reproducer of at most two switches, the same on every run; the safe ones
// hold in every execution of every input draw up to three switches.
TEST(StatementBundled, UnsafeTransfersViolateWithAtMostTwoSwitchesTheSameOnEveryRun) {
  for (const char* name : {"transfer.read_modify_write", "transfer.check_then_debit"}) {
    std::string first;
    for (int run = 0; run < 2; ++run) {
      const auto r = explore_registered(name, 3, 2);
      ASSERT_EQ(r.verdict, pgrace::Verdict::violated) << name << ": " << r.error;
      EXPECT_TRUE(r.matched) << name;
      ASSERT_TRUE(r.exploration.reproducer) << name;
      EXPECT_LE(pgrace::detail::preemptions_of(*r.exploration.reproducer), 2) << name;
      if (run == 0) first = joined(r.exploration.reproducer->schedule);
      EXPECT_EQ(joined(r.exploration.reproducer->schedule), first) << name << ": the reproducer differs between runs";
    }
  }
}

// The registered scenario `name` holds in every execution of every input
// draw (the default number) up to three switches, seed 3.
void expect_holds_in_every_draw(const std::string& name) {
  const auto r = explore_registered(name, 3, 3);
  EXPECT_EQ(r.verdict, pgrace::Verdict::held) << name << ": " << r.error;
  EXPECT_EQ(r.exploration.draws, pgrace::kDefaultDraws) << name;
  EXPECT_EQ(r.exploration.infeasible, 0) << name;
  EXPECT_TRUE(r.exploration.stopped.empty()) << name << ": " << r.exploration.stopped;
}

TEST(StatementBundled, ForUpdateHoldsInEveryOrderOfEveryDrawUpToThreeSwitches) {
  expect_holds_in_every_draw("transfer.for_update");
}

TEST(StatementBundled, SerializableRetryHoldsInEveryOrderOfEveryDrawUpToThreeSwitches) {
  expect_holds_in_every_draw("transfer.serializable_retry");
}

// The acceptance: explore transfer.check_then_debit --workers 2
// --max-switches 3 finds the overdraft for every seed from 1 to 10 (one
// input draw found it for seed 3 only), with a reproducer of one switch.
TEST(StatementBundled, CheckThenDebitOverdrawsForEverySeedFromOneToTen) {
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    const auto r = explore_registered("transfer.check_then_debit", seed, 1);
    EXPECT_EQ(r.verdict, pgrace::Verdict::violated) << "seed " << seed << ": " << r.error;
    ASSERT_TRUE(r.exploration.reproducer) << "seed " << seed;
    EXPECT_EQ(r.exploration.reproducer->switches, 1) << "seed " << seed;
  }
}

}  // namespace
