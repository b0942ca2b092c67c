// Statement-level exploration on several runners (statement/execution_pool)
// on a real ephemeral PostgreSQL: given a way to make the scenario again,
// run_scenario() runs executions ahead of their turn on extra runners, each
// with its own scenario instance and database, and finds exactly what one
// runner finds: the same counts per switch bound, the same reproducer, the
// same schedules in the same order, with and without faults; in interleave
// mode as at statement level.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "pgrace/report.hpp"
#include "pgrace/runner.hpp"
#include "pgrace/scenario.hpp"
#include "pgrace/server.hpp"
#include "pgrace/steps.hpp"
#include "scenario_support.hpp"

namespace {

using ::testing::Gt;

// Each worker moves 1 from one of three counters it draws to another, by
// read-modify-write (a lost update when two workers pick the same counter),
// or under FOR UPDATE in id order (`locked`: never).
class Moves : public pgrace::Scenario {
 public:
  explicit Moves(bool locked) : locked_(locked) {}
  std::string schema() const override { return "CREATE TABLE counters (id int PRIMARY KEY, v int NOT NULL)"; }
  void seed(pqxx::work& tx) override { tx.exec("INSERT INTO counters SELECT g, 10 FROM generate_series(1, 3) g"); }
  pgrace::TxResult transaction(pgrace::Worker& w) override {
    const long from = w.uniform(1, 3), to = from % 3 + 1;
    pqxx::work tx(w.connection());
    if (locked_) tx.exec("SELECT id FROM counters WHERE id IN (" + ids(from, to) + ") ORDER BY id FOR UPDATE");
    add(tx, from, -1);
    add(tx, to, 1);
    tx.commit();
    return pgrace::TxResult::committed;
  }
  std::vector<pgrace::Invariant> invariants() const override {
    return {pgrace::equals("the total is conserved", "SELECT sum(v) FROM counters", "30")};
  }

 private:
  static std::string ids(long a, long b) { return std::to_string(a) + ", " + std::to_string(b); }
  static void add(pqxx::work& tx, long id, int delta) {
    const int v = tx.exec1("SELECT v FROM counters WHERE id = " + std::to_string(id))[0].as<int>();
    tx.exec0("UPDATE counters SET v = " + std::to_string(v + delta) + " WHERE id = " + std::to_string(id));
  }
  bool locked_;
};

pgrace::ScenarioInfo moves_info(bool locked) {
  return {locked ? "test.moves_locked" : "test.moves", "",
          locked ? pgrace::expect_hold() : pgrace::expect_violation({"the total is conserved"}), pgrace::Knobs{}};
}

// The parts of an exploration that must not depend on its runners.
std::string findings(const pgrace::ScenarioResult& r) {
  const pgrace::Exploration& x = r.exploration;
  std::string text = std::string(pgrace::to_string(r.verdict)) + " explored " + std::to_string(x.explored) + " infeasible " +
                     std::to_string(x.infeasible) + " violating " + std::to_string(x.violating) + " faulted " +
                     std::to_string(x.faulted) + " draws " + std::to_string(x.draws) + "\n";
  for (const auto& b : x.bounds)
    text += "switches " + std::to_string(b.switches) + ": " + std::to_string(b.explored) + " run, " +
            std::to_string(b.violated) + " violated\n";
  const auto choices = [](const pgrace::ScheduleResult& s) {
    std::string line = "draw " + std::to_string(s.draw.value_or(-1)) + ":";
    for (const auto& step : s.schedule)
      if (step.find(".begin") == std::string::npos && step.find(".prepare") == std::string::npos) line += " " + step;
    return line + "\n";
  };
  if (x.reproducer) text += "reproducer " + choices(*x.reproducer);
  for (const auto& s : x.violating_schedules) text += "violating " + choices(s);
  for (const auto& s : x.held_schedules) text += "held " + choices(s);
  return text;
}

class ExecutionPool : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!server_) server_ = pgrace::Server::open(std::nullopt);
  }
  static void TearDownTestSuite() { server_.reset(); }
  static pgrace::ScenarioResult explore(bool locked, bool more_runners, pgrace::RunSettings settings) {
    Moves scenario(locked);
    settings.statement_workers = 2;
    settings.max_switches = 2;
    settings.draws = 8;
    settings.seed = 11;
    pgrace::ScenarioMaker make_more;
    if (more_runners) make_more = [locked] { return std::make_unique<Moves>(locked); };
    return pgrace::run_scenario(*server_, moves_info(locked), scenario, settings, {}, make_more);
  }
  static std::unique_ptr<pgrace::Server> server_;
};
std::unique_ptr<pgrace::Server> ExecutionPool::server_;

TEST_F(ExecutionPool, RunnersAheadFindWhatOneRunnerFinds) {
  const auto alone = explore(false, false, {});
  const auto pooled = explore(false, true, {});
  EXPECT_EQ(alone.exploration.runners, 1);
  EXPECT_THAT(pooled.exploration.runners, Gt(1)) << "the exploration never ran ahead: the test shows nothing";
  EXPECT_THAT(alone.exploration.violating, Gt(0));
  EXPECT_TRUE(pooled.matched) << pooled.error;
  EXPECT_EQ(findings(pooled), findings(alone));
}

TEST_F(ExecutionPool, ASafeScenarioHoldsOnEveryRunner) {
  const auto alone = explore(true, false, {});
  const auto pooled = explore(true, true, {});
  EXPECT_THAT(pooled.exploration.runners, Gt(1));
  EXPECT_EQ(pooled.verdict, pgrace::Verdict::held) << pooled.error;
  EXPECT_EQ(findings(pooled), findings(alone));
}

TEST_F(ExecutionPool, FaultedExecutionsAreTheSameOnEveryRunner) {
  pgrace::RunSettings settings;
  settings.faults = std::vector<pgrace::FaultRule>{{pgrace::FaultKind::drop_reply, pgrace::FaultTarget::commit, 1, {}}};
  const auto alone = explore(true, false, settings);
  const auto pooled = explore(true, true, settings);
  EXPECT_THAT(pooled.exploration.runners, Gt(1));
  EXPECT_THAT(alone.exploration.faulted, Gt(0));
  EXPECT_EQ(findings(pooled), findings(alone));
}

// Interleave mode: three sessions increment one counter, each reading it
// and then writing it back, statement by statement outside a transaction
// (a lost update in many of the 90 interleavings), or reading it and then
// adding one in the UPDATE (`atomic`: never). No step ever waits for a lock,
// so every schedule runs the same whatever the machine's load.
class ThreeIncrements : public pgrace::Scenario {
 public:
  explicit ThreeIncrements(bool atomic) : atomic_(atomic) {}
  std::string schema() const override { return "CREATE TABLE counter (v int NOT NULL)"; }
  void seed(pqxx::work& tx) override { tx.exec("INSERT INTO counter VALUES (0)"); }
  std::vector<pgrace::Session> sessions() const override {
    std::vector<pgrace::Session> sessions;
    for (const std::string s : {"a", "b", "c"}) {
      const bool atomic = atomic_;
      sessions.push_back({s, "", {pgrace::sql_step(s + "_read", "SELECT v FROM counter"),
                                  pgrace::cpp_step(s + "_write", [s, atomic](pgrace::StepContext& ctx) {
                                    const int v = std::stoi(ctx.observed(s + "_read"));
                                    ctx.exec("UPDATE counter SET v = " + (atomic ? std::string("v") : std::to_string(v)) +
                                             " + 1");
                                  })}});
    }
    return sessions;
  }
  std::vector<pgrace::Invariant> invariants() const override {
    return {pgrace::equals("every increment counts", "SELECT v FROM counter", "3")};
  }

 private:
  bool atomic_;
};

pgrace::ScenarioResult interleave(const pgrace::Server& server, bool atomic, bool more_runners) {
  ThreeIncrements scenario(atomic);
  pgrace::ScenarioMaker make_more;
  if (more_runners) make_more = [atomic] { return std::make_unique<ThreeIncrements>(atomic); };
  const pgrace::ScenarioInfo info{atomic ? "test.increments_atomic" : "test.increments", "",
                                  atomic ? pgrace::expect_hold() : pgrace::expect_violation({"every increment counts"}),
                                  pgrace::Knobs{}};
  pgrace::RunSettings settings;
  settings.seed = 5;
  return pgrace::run_scenario(server, info, scenario, settings, {}, make_more);
}

TEST_F(ExecutionPool, InterleavedSchedulesAreTheSameOnEveryStage) {
  for (bool atomic : {false, true}) {
    const auto alone = interleave(*server_, atomic, false);
    const auto pooled = interleave(*server_, atomic, true);
    EXPECT_EQ(alone.exploration.runners, 1);
    EXPECT_THAT(pooled.exploration.runners, Gt(1)) << "the exploration never ran ahead: the test shows nothing";
    EXPECT_EQ(pooled.exploration.explored, 90);
    EXPECT_TRUE(pooled.matched) << pooled.error;
    EXPECT_EQ(atomic, pooled.exploration.violating == 0);
    EXPECT_EQ(findings(pooled), findings(alone));
  }
}

}  // namespace
