// Integration tests of how interleave mode explores, on a real ephemeral
// PostgreSQL server: schedules run in order of their context switches, so
// that the first violation found needs the fewest; --max-switches bounds
// the search and the result counts each bound; --budget stops it cleanly; a
// schedule whose next step belongs to a session waiting only for idle
// sessions is infeasible at once, not after the step timeout; and the first
// violating schedule is shrunk (sessions removed, trailing steps dropped,
// steps reordered) into the reproducer, the original kept beside it.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "pgrace/runner.hpp"
#include "pgrace/scenario.hpp"
#include "pgrace/server.hpp"
#include "pgrace/steps.hpp"
#include "scenario_support.hpp"

namespace {

using pgrace::test::joined;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;

int switches(const pgrace::ScheduleResult& s) {
  int n = 0;
  for (std::size_t i = 1; i < s.steps.size(); ++i) n += s.steps[i].session != s.steps[i - 1].session;
  return n;
}

using pgrace::test::Doctors;

// Three workers claim the first pending job without a lock (the bundled
// queue.claim_unlocked, as a user would write it).
class JobQueue : public pgrace::Scenario {
 public:
  std::string schema() const override {
    return "CREATE TABLE jobs (id int PRIMARY KEY, status text); CREATE TABLE claims (job int, worker text)";
  }
  void seed(pqxx::work& tx) override { tx.exec("INSERT INTO jobs VALUES (1, 'pending'), (2, 'pending')"); }
  std::vector<pgrace::Session> sessions() const override { return {worker("x"), worker("y"), worker("z")}; }
  std::vector<pgrace::Invariant> invariants() const override {
    return {pgrace::no_rows("claimed once", "SELECT job FROM claims GROUP BY job HAVING count(*) > 1")};
  }

 private:
  static pgrace::Session worker(const std::string& n) {
    return {n,
            "BEGIN",
            {pgrace::sql_step(n + "_pick", "SELECT id FROM jobs WHERE status = 'pending' ORDER BY id LIMIT 1"),
             pgrace::cpp_step(n + "_claim",
                              [n](pgrace::StepContext& ctx) {
                                const std::string id = ctx.observed(n + "_pick");
                                if (id.empty()) return;
                                ctx.exec("UPDATE jobs SET status = 'claimed' WHERE id = " + id);
                                ctx.exec("INSERT INTO claims VALUES (" + id + ", '" + n + "')");
                              }),
             pgrace::sql_step(n + "_commit", "COMMIT")}};
  }
};

pgrace::ScenarioInfo info_for(const std::string& name, pgrace::Expectation expectation) {
  pgrace::ScenarioInfo info;
  info.name = "test.exploration." + name;
  info.expectation = std::move(expectation);
  return info;
}

class Exploration : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!server_) server_ = pgrace::Server::open(std::nullopt);
  }
  static void TearDownTestSuite() { server_.reset(); }
  static pgrace::ScenarioResult run(const std::string& name, pgrace::Expectation expectation,
                                    pgrace::Scenario& scenario, const pgrace::RunSettings& settings = {}) {
    return pgrace::run_scenario(*server_, info_for(name, std::move(expectation)), scenario, settings);
  }
  static std::unique_ptr<pgrace::Server> server_;
};
std::unique_ptr<pgrace::Server> Exploration::server_;

TEST_F(Exploration, SchedulesRunFewestSwitchesFirstAndTheWriteSkewReproducerHasTwo) {
  Doctors doctors;
  const auto r = run("doctors", pgrace::expect_violation({"someone is on call"}), doctors);
  ASSERT_EQ(r.verdict, pgrace::Verdict::violated) << r.error;
  EXPECT_TRUE(r.matched);
  EXPECT_EQ(r.exploration.explored, 20);
  ASSERT_FALSE(r.exploration.violating_schedules.empty());
  int previous = 0;
  for (const auto& s : r.exploration.violating_schedules) {
    EXPECT_GE(switches(s), previous) << joined(s.schedule);
    previous = switches(s);
  }
  // Write skew needs both reads before either commit: 2 switches at least.
  EXPECT_EQ(switches(r.exploration.violating_schedules.front()), 2);
  ASSERT_TRUE(r.exploration.reproducer);
  EXPECT_EQ(switches(*r.exploration.reproducer), 2);
  // The bounds (none has 0 switches: both sessions run): the 2 serial
  // orders with 1 switch held, then 2 switches violated.
  ASSERT_EQ(r.exploration.bounds.size(), 5u);
  EXPECT_EQ(r.exploration.bounds[0].switches, 1);
  EXPECT_EQ(r.exploration.bounds[0].total, 2u);
  EXPECT_EQ(r.exploration.bounds[0].violated, 0);
  EXPECT_EQ(r.exploration.bounds[1].switches, 2);
  EXPECT_GT(r.exploration.bounds[1].violated, 0);
  long explored = 0;
  for (const auto& b : r.exploration.bounds) explored += b.explored;
  EXPECT_EQ(explored, 20);
  // The held schedules are kept too: the serial ones among them.
  ASSERT_FALSE(r.exploration.held_schedules.empty());
  EXPECT_EQ(switches(r.exploration.held_schedules.front()), 1);
}

TEST_F(Exploration, MaxSwitchesBoundsTheSearchAndAHoldBelowTheBugIsAPass) {
  Doctors doctors;
  pgrace::RunSettings settings;
  settings.max_switches = 1;
  const auto r = run("doctors_bounded", pgrace::expect_hold(), doctors, settings);
  EXPECT_EQ(r.verdict, pgrace::Verdict::held) << r.error;
  EXPECT_TRUE(r.matched);
  EXPECT_EQ(r.exploration.explored, 2);  // the two serial orders
  ASSERT_EQ(r.exploration.bounds.size(), 1u);
  EXPECT_EQ(r.exploration.bounds[0].switches, 1);
  EXPECT_EQ(r.exploration.bounds[0].explored, 2);
  EXPECT_EQ(r.exploration.max_switches, 1);
  settings.max_switches = 2;
  const auto r2 = run("doctors_bounded2", pgrace::expect_violation({"someone is on call"}), doctors, settings);
  EXPECT_EQ(r2.verdict, pgrace::Verdict::violated) << r2.error;
}

TEST_F(Exploration, AStepQueuedBehindAnIdleSessionMakesItsScheduleInfeasibleAtOnce) {
  JobQueue queue;
  pgrace::RunSettings settings;
  settings.max_schedules = 2000;
  settings.step_timeout = std::chrono::seconds(30);  // a stall would take 30 s per schedule
  const auto started = Clock::now();
  const auto r = run("queue", pgrace::expect_violation({"claimed once"}), queue, settings);
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  EXPECT_EQ(r.verdict, pgrace::Verdict::violated) << r.error;
  EXPECT_EQ(r.exploration.explored, 1680);
  EXPECT_GT(r.exploration.infeasible, 0);
  EXPECT_LT(seconds, 120) << "infeasible schedules waited for the step timeout";
  for (const auto& s : r.exploration.violating_schedules) EXPECT_TRUE(s.note.empty()) << s.note;
}

TEST_F(Exploration, TheReproducerIsShrunkToTwoWorkersAndKeepsTheOriginal) {
  JobQueue queue;
  const auto r = run("queue_shrunk", pgrace::expect_violation({"claimed once"}), queue);
  ASSERT_TRUE(r.exploration.reproducer);
  ASSERT_TRUE(r.exploration.shrinking);
  const auto& shrunk = *r.exploration.reproducer;
  const auto& original = r.exploration.shrinking->original;
  EXPECT_EQ(original.schedule, r.exploration.violating_schedules.front().schedule);
  EXPECT_EQ(original.schedule.size(), 9u);
  EXPECT_THAT(shrunk.violated, ElementsAre("claimed once"));
  EXPECT_EQ(shrunk.schedule.size(), 6u) << joined(shrunk.schedule);  // two workers, all their steps
  EXPECT_EQ(switches(shrunk), 2) << joined(shrunk.schedule);
  EXPECT_EQ(r.exploration.shrinking->invariant, "claimed once");
  ASSERT_FALSE(r.exploration.shrinking->changes.empty());
  EXPECT_THAT(r.exploration.shrinking->changes.front(), HasSubstr("removed session "));
  EXPECT_GT(r.exploration.shrinking->attempts, 0);
}

TEST_F(Exploration, TrailingStepsAreDroppedAndTheirTransactionRolledBack) {
  // Violated as soon as both doctors read 2 and a's update commits: b's
  // update is needed (it takes b off call)... unless the invariant only
  // counts a. Here the invariant is "alice stays on call unless bob is
  // off": b's write and commit are noise once a committed.
  class AliceLeaves : public Doctors {
    std::vector<pgrace::Invariant> invariants() const override {
      return {pgrace::equals("alice is on call", "SELECT on_call FROM doctors WHERE name = 'alice'", "t")};
    }
  } scenario;
  const auto r = run("alice", pgrace::expect_violation({"alice is on call"}), scenario);
  ASSERT_TRUE(r.exploration.reproducer) << r.error;
  EXPECT_EQ(joined(r.exploration.reproducer->schedule), "a_read a_write a_commit");
  ASSERT_TRUE(r.exploration.shrinking);
  EXPECT_THAT(joined(r.exploration.shrinking->changes), HasSubstr("removed session b"));
}

TEST_F(Exploration, ShrinkingNeverKeepsAScheduleWhoseVerdictRestsOnAStepLeftOut) {
  // Hermitage's P4 predicate counts an increment as committed unless its
  // steps' observations say "error:": without the steps, "nothing failed".
  // Removing T1 and T2's writes would then "violate" it with one read.
  const pgrace::ScenarioDefinition* p4 = nullptr;
  for (const auto& d : pgrace::registered_scenarios())
    if (d.info.name == "hermitage.p4.read_committed") p4 = &d;
  ASSERT_NE(p4, nullptr);
  pgrace::Options options;
  auto scenario = p4->make(options);
  const auto r = pgrace::run_scenario(*server_, p4->info, *scenario, {});
  ASSERT_TRUE(r.exploration.reproducer) << r.error;
  EXPECT_EQ(r.exploration.reproducer->schedule.size(), 6u) << joined(r.exploration.reproducer->schedule);
  EXPECT_EQ(switches(*r.exploration.reproducer), 2) << joined(r.exploration.reproducer->schedule);
}

TEST_F(Exploration, ShrinkingDoesNotLeaveWorkOutToViolateAnInvariantAboutAllOfIt) {
  // Two increments of a counter read-modify-write: "the counter is 2" is
  // also "violated" by running one session alone, which shows nothing.
  class Counter : public pgrace::Scenario {
    std::string schema() const override { return "CREATE TABLE c (v int)"; }
    void seed(pqxx::work& tx) override { tx.exec("INSERT INTO c VALUES (0)"); }
    std::vector<pgrace::Session> sessions() const override { return {adder("a"), adder("b")}; }
    std::vector<pgrace::Invariant> invariants() const override {
      return {pgrace::equals("both increments count", "SELECT v FROM c", "2")};
    }
    static pgrace::Session adder(const std::string& n) {
      return {n,
              "BEGIN",
              {pgrace::sql_step(n + "_read", "SELECT v FROM c"),
               pgrace::cpp_step(n + "_write",
                                [n](pgrace::StepContext& ctx) {
                                  const int v = std::stoi(ctx.observed(n + "_read"));
                                  ctx.exec("UPDATE c SET v = " + std::to_string(v + 1));
                                }),
               pgrace::sql_step(n + "_commit", "COMMIT")}};
    }
  } counter;
  const auto r = run("counter", pgrace::expect_violation({"both increments count"}), counter);
  ASSERT_TRUE(r.exploration.reproducer) << r.error;
  const auto& reproducer = *r.exploration.reproducer;
  EXPECT_EQ(reproducer.schedule.size(), 6u) << joined(reproducer.schedule);
  EXPECT_EQ(switches(reproducer), 2) << joined(reproducer.schedule);
}

TEST_F(Exploration, ListedSchedulesAreBoundedByMaxSwitchesToo) {
  Doctors doctors;
  pgrace::RunSettings settings;
  settings.schedules = {{"a_read", "b_read", "a_write", "b_write", "a_commit", "b_commit"},   // 5 switches
                        {"a_read", "a_write", "a_commit", "b_read", "b_write", "b_commit"}};  // 1
  settings.max_switches = 2;
  const auto r = run("listed_bounded", pgrace::expect_hold(), doctors, settings);
  EXPECT_EQ(r.verdict, pgrace::Verdict::held) << r.error;
  EXPECT_EQ(r.exploration.explored, 1);
  settings.max_switches = 0;
  const auto none = run("listed_none", pgrace::expect_hold(), doctors, settings);
  EXPECT_EQ(none.verdict, pgrace::Verdict::error);
  EXPECT_THAT(none.error, HasSubstr("every schedule has at least 1 context switch(es)"));
}

TEST_F(Exploration, ThreeSessionDeadlocksEndTheSameWayOnEveryRun) {
  // Each session locks its own row, then the next one's: a ring. Which
  // session the server picks as the victim must not depend on timing.
  class Ring : public pgrace::Scenario {
    std::string schema() const override { return "CREATE TABLE r (id int PRIMARY KEY, v int)"; }
    void seed(pqxx::work& tx) override { tx.exec("INSERT INTO r VALUES (0, 0), (1, 0), (2, 0)"); }
    std::vector<pgrace::Session> sessions() const override { return {locker(0), locker(1), locker(2)}; }
    std::vector<pgrace::Invariant> invariants() const override {
      return {pgrace::no_rows("every row written", "SELECT id FROM r WHERE v = 0")};
    }
    static pgrace::Session locker(int i) {
      const std::string n = std::to_string(i), next = std::to_string((i + 1) % 3);
      return {"s" + n,
              "BEGIN",
              {pgrace::sql_step("own" + n, "UPDATE r SET v = v + 1 WHERE id = " + n),
               pgrace::sql_step("next" + n, "UPDATE r SET v = v + 1 WHERE id = " + next),
               pgrace::sql_step("commit" + n, "COMMIT")}};
    }
  } ring;
  pgrace::RunSettings settings;
  settings.max_switches = 5;  // own0 own1 own2 next0 next1 next2 closes the ring
  std::vector<std::string> outcomes;
  for (int run_number = 0; run_number < 2; ++run_number) {
    const auto r = run("ring", pgrace::expect_hold(), ring, settings);
    EXPECT_EQ(r.verdict, pgrace::Verdict::held) << r.error;  // a victim's row is also its neighbour's
    std::string summary = std::to_string(r.exploration.explored) + " explored, " +
                          std::to_string(r.exploration.violating) + " violated, " +
                          std::to_string(r.exploration.infeasible) + " infeasible, 40P01 x" +
                          std::to_string(r.sqlstates.count("40P01") ? r.sqlstates.at("40P01") : 0);
    if (r.exploration.reproducer) summary += ", reproducer " + joined(r.exploration.reproducer->schedule);
    outcomes.push_back(summary);
  }
  for (const auto& o : outcomes) EXPECT_EQ(o, outcomes.front());
  std::cout << "[ ring     ] " << outcomes.front() << "\n";
  EXPECT_THAT(outcomes.front(), Not(HasSubstr("40P01 x0")));
}

TEST_F(Exploration, ABudgetThatRunsOutBeforeAnyViolationIsNotAPass) {
  JobQueue queue;
  class SlowQueue : public JobQueue {
    void seed(pqxx::work& tx) override {
      JobQueue::seed(tx);
      tx.exec("SELECT pg_sleep(0.05)");
    }
    std::vector<pgrace::Invariant> invariants() const override { return {}; }
  } slow;
  pgrace::RunSettings settings;
  settings.budget_s = 0.5;
  const auto r = run("budget", pgrace::expect_hold(), slow, settings);
  EXPECT_EQ(r.verdict, pgrace::Verdict::error);
  EXPECT_FALSE(r.matched);
  EXPECT_THAT(r.error, HasSubstr("(--budget) ran out after"));
  EXPECT_THAT(r.error, HasSubstr("a partial exploration is not a pass"));
  EXPECT_LT(r.exploration.explored, 1000);
  EXPECT_GT(r.exploration.explored, 0);
  EXPECT_FALSE(r.exploration.stopped.empty());
}

TEST_F(Exploration, ABudgetKeepsTheViolationItFound) {
  JobQueue queue;
  pgrace::RunSettings settings;
  settings.budget_s = 1;
  const auto r = run("budget_found", pgrace::expect_violation({"claimed once"}), queue, settings);
  EXPECT_EQ(r.verdict, pgrace::Verdict::violated) << r.error;
  EXPECT_TRUE(r.matched);
  EXPECT_TRUE(r.error.empty()) << r.error;
  EXPECT_TRUE(r.exploration.reproducer);
}

TEST_F(Exploration, AStepReleasedByTheStepJustRunEndsBeforeTheNextStepStarts) {
  // b's autocommit UPDATE waits for a's row lock; a's COMMIT releases it,
  // and b's UPDATE (slowed by pg_sleep) must end before c reads, as the
  // isolation tester waits for released steps: c reads 11, on every run.
  class Released : public pgrace::Scenario {
   public:
    std::string schema() const override { return "CREATE TABLE t (id int PRIMARY KEY, v int)"; }
    void seed(pqxx::work& tx) override { tx.exec("INSERT INTO t VALUES (1, 0)"); }
    std::vector<pgrace::Session> sessions() const override {
      return {
          {"a",
           "BEGIN",
           {pgrace::sql_step("a_upd", "UPDATE t SET v = v + 1 WHERE id = 1"), pgrace::sql_step("a_commit", "COMMIT")}},
          {"b", "", {pgrace::sql_step("b_upd", "UPDATE t SET v = v + 10 WHERE id = 1 RETURNING pg_sleep(0.05)")}},
          {"c", "", {pgrace::sql_step("c_read", "SELECT v FROM t WHERE id = 1")}}};
    }
    std::vector<std::vector<std::string>> schedules() const override {
      return {{"a_upd", "b_upd", "a_commit", "c_read"}};
    }
    std::vector<pgrace::Invariant> invariants() const override {
      return {pgrace::predicate("c sees both updates", [](const pgrace::CheckContext& c) -> std::vector<std::string> {
        if (c.observed("c_read") == "11") return {};
        return {"c_read " + c.observed("c_read")};
      })};
    }
  } scenario;
  const auto r = run("released", pgrace::expect_hold(), scenario);
  EXPECT_EQ(r.verdict, pgrace::Verdict::held) << r.error;
  ASSERT_FALSE(r.exploration.held_schedules.empty());
  EXPECT_THAT(r.exploration.held_schedules.front().completion_order,
              ElementsAre("a_upd", "a_commit", "b_upd", "c_read"));
}

// Two sessions each take a session-level advisory lock, increment a counter
// under it and unlock.
class AdvisoryCounter : public pgrace::Scenario {
 public:
  std::string schema() const override { return "CREATE TABLE c (id int PRIMARY KEY, v int)"; }
  void seed(pqxx::work& tx) override { tx.exec("INSERT INTO c VALUES (1, 0)"); }
  std::vector<pgrace::Session> sessions() const override { return {session("a"), session("b")}; }
  std::vector<pgrace::Invariant> invariants() const override {
    return {pgrace::equals("counted twice", "SELECT v FROM c", "2")};
  }

 private:
  static pgrace::Session session(const std::string& n) {
    return {n,
            "",
            {pgrace::sql_step(n + "_lock", "SELECT pg_advisory_lock(7)"),
             pgrace::sql_step(n + "_add", "UPDATE c SET v = v + 1"),
             pgrace::sql_step(n + "_unlock", "SELECT pg_advisory_unlock(7)")}};
  }
};

TEST_F(Exploration, ASessionLevelAdvisoryLockDoesNotOutliveItsSchedule) {
  // The first schedule ends with a still holding lock 7 (its unlock is left
  // out); the second is feasible only if that lock was released in between.
  AdvisoryCounter scenario;
  pgrace::RunSettings settings;
  settings.schedules = {{"a_lock", "b_lock", "b_add"}, {"a_lock", "b_lock", "a_add", "a_unlock", "b_add", "b_unlock"}};
  const auto r = run("advisory", pgrace::expect_hold(), scenario, settings);
  EXPECT_EQ(r.exploration.infeasible, 1) << r.error;
  EXPECT_EQ(r.verdict, pgrace::Verdict::held) << r.error;
  EXPECT_TRUE(r.matched);
}

TEST_F(Exploration, ASwitchBoundBelowTheFewestPossibleExploresNothingAndIsNotAPass) {
  Doctors doctors;
  pgrace::RunSettings settings;
  settings.max_switches = 0;  // two sessions need at least one switch
  const auto r = run("doctors_none", pgrace::expect_hold(), doctors, settings);
  EXPECT_EQ(r.exploration.explored, 0);
  EXPECT_EQ(r.verdict, pgrace::Verdict::error);
  EXPECT_FALSE(r.matched);
  EXPECT_THAT(r.error, HasSubstr("--max-switches 0 leaves no schedule to explore"));
  EXPECT_THAT(r.error, HasSubstr("at least 1"));
}

TEST_F(Exploration, ACppStepThatThrowsMakesTheVerdictError) {
  // a_write reads an observation under a misspelt name: its C++ throws in
  // every schedule, so the run tests nothing: not a pass.
  class Misspelt : public Doctors {
    std::vector<pgrace::Session> sessions() const override {
      auto sessions = Doctors::sessions();
      sessions[0].steps[1] = pgrace::cpp_step("a_write", [](pgrace::StepContext& ctx) {
        if (ctx.observed("a_raed") == "2") ctx.exec("UPDATE doctors SET on_call = false WHERE name = 'alice'");
      });
      return sessions;
    }
  } scenario;
  const auto r = run("misspelt", pgrace::expect_hold(), scenario);
  EXPECT_EQ(r.verdict, pgrace::Verdict::error);
  EXPECT_FALSE(r.matched);
  EXPECT_THAT(r.error, HasSubstr("step a_write threw: "));
  EXPECT_THAT(r.error, HasSubstr("a_raed"));
}

}  // namespace
