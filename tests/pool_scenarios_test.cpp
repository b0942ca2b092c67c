// Integration tests of the pool scenarios (scenarios/pool.cpp) and of the
// pool as the stress engine offers it (Worker::pool(), Knobs::pool), on a
// real ephemeral PostgreSQL.
//
// The invariant these tests check: each bundled pool scenario shows what it
// claims in every one of 20 repetitions — the unsafe ones (nested_acquire,
// leak) starve the pool (some acquire times out: "no request starved by the
// pool" violated) in 20 of 20, their safe twins in 0 of 20 — while some of
// their requests commit (evidence). The verdict comes from the pool, not the
// label: with a pool larger than the handlers need, the unsafe code no longer
// starves. The pool's statistics (peak, leaked, timeouts, waits) reach the
// result, the JSON report, the summary and the reproducing command; a scenario that asks for a pool
// the run does not have ends in verdict error, naming the fix.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "pgrace/error.hpp"
#include "pgrace/report.hpp"
#include "pgrace/runner.hpp"
#include "pgrace/scenario.hpp"
#include "pgrace/server.hpp"
#include "scenario_support.hpp"

namespace {

using namespace pgrace::test;
using pgrace::OutcomeClass;
using ::testing::HasSubstr;

const char* const kNotStarved = "no request starved by the pool";
constexpr int kRepeat = 20;
constexpr std::uint64_t kSeed = 20261127;

struct Expected {
  std::string name;
  bool starves;
};

void PrintTo(const Expected& e, std::ostream* out) { *out << e.name; }

const std::vector<Expected>& expected_scenarios() {
  static const std::vector<Expected> table = {
      {"pool.leak", true},
      {"pool.nested_acquire", true},
      {"pool.release_on_error", false},
      {"pool.single_lease", false},
  };
  return table;
}

class PoolScenarios : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!server_) server_ = pgrace::Server::open(std::nullopt);
  }
  static void TearDownTestSuite() { server_.reset(); }

  static pgrace::ScenarioResult run(const std::string& name, const pgrace::RunSettings& settings) {
    return run_registered(*server_, name, settings);
  }

  static pgrace::RunSettings settings(int repeat = kRepeat) {
    pgrace::RunSettings s;
    s.repeat = repeat;
    s.seed = kSeed;
    return s;
  }

  static std::unique_ptr<pgrace::Server> server_;
};

std::unique_ptr<pgrace::Server> PoolScenarios::server_;

TEST(PoolRegistry, RegistersTheFourPoolScenariosWithAPoolAsLargeAsTheirHandlers) {
  std::set<std::string> registered, expected;
  for (const auto& d : pgrace::registered_scenarios())
    if (d.info.name.rfind("pool.", 0) == 0) registered.insert(d.info.name);
  for (const auto& e : expected_scenarios()) {
    expected.insert(e.name);
    const auto& info = definition(e.name).info;
    EXPECT_EQ(info.expectation.violated, e.starves ? std::set<std::string>{kNotStarved} : std::set<std::string>{});
    EXPECT_EQ(info.defaults.pool.size, info.defaults.threads) << e.name;
    EXPECT_THAT(info.description, ::testing::AnyOf(HasSubstr("incident"), HasSubstr("fix for"))) << e.name;
  }
  EXPECT_EQ(registered, expected);
}

class EveryPoolScenario : public PoolScenarios, public ::testing::WithParamInterface<Expected> {};

TEST_P(EveryPoolScenario, StarvesInEveryRepetitionOrInNone) {
  const Expected& e = GetParam();
  const pgrace::ScenarioResult r = run(e.name, settings());
  SCOPED_TRACE(summary_with_error(r));
  EXPECT_EQ(r.error, "");
  EXPECT_TRUE(r.matched);
  EXPECT_EQ(r.stress.repetitions, kRepeat);
  EXPECT_EQ(r.stress.violating_runs, e.starves ? kRepeat : 0);
  EXPECT_GT(outcome(r, OutcomeClass::committed), 0);
  EXPECT_EQ(outcome(r, OutcomeClass::scenario_error), 0);
  EXPECT_EQ(outcome(r, OutcomeClass::other_sql_error), 0);

  ASSERT_TRUE(r.stress.pool.has_value());
  const pgrace::PoolStats& pool = *r.stress.pool;
  EXPECT_EQ(pool.size, 4);
  EXPECT_EQ(pool.acquire_timeout_ms, 100);
  EXPECT_EQ(pool.peak_leased, 4);
  EXPECT_EQ(pool.timeouts, outcome(r, OutcomeClass::pool_timeout)) << "every timeout ends its request";
  EXPECT_EQ(pool.timeouts > 0, e.starves);
  EXPECT_GE(pool.acquires, 16L * kRepeat) << "every request acquires at least once";
  EXPECT_LE(pool.wait.p50_ms, pool.wait.max_ms);
  if (e.starves) {
    EXPECT_GE(pool.wait.max_ms, 100) << "a timed-out acquire waited its timeout";
  } else {
    EXPECT_LT(pool.wait.max_ms, 100);
  }
}

INSTANTIATE_TEST_SUITE_P(Pool, EveryPoolScenario, ::testing::ValuesIn(expected_scenarios()),
                         [](const ::testing::TestParamInfo<Expected>& info) {
                           return info.param.name.substr(info.param.name.find('.') + 1);
                         });

// The leak: in round 1 each of the 4 handlers leaks its connection; the 8
// requests of rounds 2 and 3 all time out; pgrace takes the 4 leases back
// before each repetition, so every repetition starts with a full pool.
TEST_F(PoolScenarios, LeakLeavesEveryLaterRequestStarvedAndIsTakenBackEachRepetition) {
  const pgrace::ScenarioResult r = run("pool.leak", settings(3));
  SCOPED_TRACE(summary_with_error(r));
  EXPECT_EQ(outcome(r, OutcomeClass::committed), 4 * 3);
  EXPECT_EQ(outcome(r, OutcomeClass::rejected), 4 * 3);
  EXPECT_EQ(outcome(r, OutcomeClass::pool_timeout), 8 * 3);
  ASSERT_TRUE(r.stress.pool.has_value());
  EXPECT_EQ(r.stress.pool->leaked, 4);
  const pgrace::ScenarioResult safe = run("pool.release_on_error", settings(3));
  ASSERT_TRUE(safe.stress.pool.has_value());
  EXPECT_EQ(safe.stress.pool->leaked, 0);
}

// The same unsafe code with a pool of 8 for 4 handlers: nothing starves.
TEST_F(PoolScenarios, AnUnsafeScenarioHoldsWhenThePoolIsLargeEnough) {
  pgrace::RunSettings s = settings(3);
  s.pool_size = 8;
  for (const char* name : {"pool.nested_acquire", "pool.leak"}) {
    const pgrace::ScenarioResult r = run(name, s);
    SCOPED_TRACE(summary_with_error(r));
    EXPECT_EQ(r.verdict, pgrace::Verdict::held) << name;
    ASSERT_TRUE(r.stress.pool.has_value());
    EXPECT_EQ(r.stress.pool->size, 8);
    EXPECT_EQ(r.stress.pool->timeouts, 0);
    EXPECT_GT(r.stress.pool->peak_leased, 4) << name << ": the handlers used more than 4 connections";
  }
}

TEST_F(PoolScenarios, ThePoolReachesTheJsonReportAndTheSummary) {
  pgrace::RunSettings s = settings(2);
  s.pool_timeout = std::chrono::milliseconds(60);
  const pgrace::ScenarioResult r = run("pool.leak", s);
  ASSERT_TRUE(r.stress.pool.has_value());
  const nlohmann::json pool = pgrace::to_json(r).at("pool");
  EXPECT_EQ(pool.at("size"), 4);
  EXPECT_EQ(pool.at("acquire_timeout_ms"), 60.0);
  EXPECT_EQ(pool.at("acquires"), r.stress.pool->acquires);
  EXPECT_EQ(pool.at("timeouts"), 16);
  EXPECT_EQ(pool.at("peak_leased"), 4);
  EXPECT_EQ(pool.at("leaked"), 4);
  EXPECT_GE(pool.at("wait_ms").at("max").get<double>(), 60.0);
  EXPECT_EQ(pgrace::to_json(r).at("outcomes").at("pool_timeout"), 16);
  EXPECT_THAT(pgrace::summary_text(r),
              HasSubstr("pool: 4 connections, peak 4 leased, " + std::to_string(r.stress.pool->acquires) +
                        " acquires, 16 timed out after the configured 60 ms, wait p50 "));
  EXPECT_THAT(pgrace::summary_text(r), HasSubstr(" ms, 4 leaked\n"));
  pgrace::RunReport report;
  report.program = "pgrace";
  report.repeat = 2;
  EXPECT_THAT(pgrace::reproducer_command(report, r), HasSubstr(" --pool-size 4 --pool-timeout 60 --repeat 2"));

  const pgrace::ScenarioResult without = run("transfer.for_update", settings(1));
  EXPECT_FALSE(without.stress.pool.has_value());
  EXPECT_TRUE(pgrace::to_json(without).at("pool").is_null());
  EXPECT_THAT(pgrace::summary_text(without), ::testing::Not(HasSubstr("pool:")));
}

// A scenario that calls Worker::pool() in a run without a pool.
class PoolWithoutSize : public pgrace::Scenario {
 public:
  std::string schema() const override { return "CREATE TABLE t (x int)"; }
  void seed(pqxx::work&) override {}
  pgrace::TxResult transaction(pgrace::Worker& w) override {
    pgrace::Lease lease = w.pool().acquire();
    return pgrace::TxResult::committed;
  }
  std::vector<pgrace::Invariant> invariants() const override { return {}; }
};

TEST_F(PoolScenarios, AskingForAPoolTheRunDoesNotHaveIsAnErrorNamingTheFix) {
  pgrace::Knobs knobs;  // pool.size 0: no pool
  knobs.threads = 2;
  knobs.iterations = 1;
  pgrace::ScenarioInfo info{"test.pool_without_size", "calls pool() with no pool", pgrace::expect_hold(), knobs};
  PoolWithoutSize scenario;
  const pgrace::ScenarioResult r = pgrace::run_scenario(*server_, info, scenario, settings(1));
  EXPECT_EQ(r.verdict, pgrace::Verdict::error);
  EXPECT_THAT(r.error,
              HasSubstr("pool() needs a pool: set Knobs::pool.size in the scenario's info() or pass --pool-size"));
  EXPECT_FALSE(r.stress.pool.has_value());
}

// Knobs for the hostile scenarios below: `threads` workers, one transaction each.
pgrace::Knobs one_round(int threads, int pool_size, std::chrono::milliseconds pool_timeout) {
  pgrace::Knobs knobs;
  knobs.threads = threads;
  knobs.iterations = 1;
  knobs.pool = pgrace::PoolSettings{pool_size, pool_timeout};
  return knobs;
}

// A request context kept past its request, with its lease and an open
// pqxx::work holding a lock the next repetition's reset (TRUNCATE) needs.
class LeakedTransactionObject : public pgrace::Scenario {
 public:
  std::string schema() const override { return "CREATE TABLE t (x int)"; }
  void seed(pqxx::work& tx) override { tx.exec("INSERT INTO t VALUES (1)"); }
  pgrace::TxResult transaction(pgrace::Worker& w) override {
    Context context{w.pool().acquire(), nullptr};
    context.tx = std::make_unique<pqxx::work>(*context.lease);
    context.tx->exec("UPDATE t SET x = x + 1");
    contexts_[contexts_.size()] = std::move(context);  // never ended
    return pgrace::TxResult::committed;
  }
  std::vector<pgrace::Invariant> invariants() const override { return {}; }

 private:
  struct Context {
    pgrace::Lease lease;
    std::unique_ptr<pqxx::work> tx;
  };
  std::map<std::size_t, Context> contexts_;
};

TEST_F(PoolScenarios, ALeakedTransactionObjectIsCountedAsLeakedAndTheNextRepetitionStartsClean) {
  pgrace::ScenarioInfo info{"test.leaked_transaction_object", "keeps its request contexts", pgrace::expect_hold(),
                            one_round(1, 2, std::chrono::milliseconds(100))};
  pgrace::RunSettings s = settings(3);
  s.timeout_s = 30;
  LeakedTransactionObject scenario;
  const pgrace::ScenarioResult r = pgrace::run_scenario(*server_, info, scenario, s);
  SCOPED_TRACE(summary_with_error(r));
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.verdict, pgrace::Verdict::held);
  EXPECT_EQ(r.stress.repetitions, 3);
  ASSERT_TRUE(r.stress.pool.has_value()) << "the pool's statistics were lost";
  EXPECT_EQ(r.stress.pool->leaked, 1);
  EXPECT_EQ(outcome(r, OutcomeClass::committed), 3);
}

// Worker 0 waits on a lock its other pooled connection holds (an
// application deadlock the server cannot see); worker 1 waits for a pooled
// connection that never comes back. The timeout names both and ends them.
class StuckOnThePool : public pgrace::Scenario {
 public:
  std::string schema() const override { return "CREATE TABLE t (x int)"; }
  void seed(pqxx::work&) override {}
  pgrace::TxResult transaction(pgrace::Worker& w) override {
    if (w.index() == 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // worker 0 holds both connections
      w.pool().acquire();
      return pgrace::TxResult::committed;
    }
    pgrace::Lease first = w.pool().acquire();
    pgrace::Lease second = w.pool().acquire();
    pqxx::work holder(*first);
    holder.exec("LOCK TABLE t");
    pqxx::work waiter(*second);
    waiter.exec("LOCK TABLE t");
    return pgrace::TxResult::committed;
  }
  std::vector<pgrace::Invariant> invariants() const override { return {}; }
};

TEST_F(PoolScenarios, ATimeoutNamesPooledBackendsAndWorkersWaitingForThePoolAndEndsThem) {
  pgrace::ScenarioInfo info{"test.stuck_on_the_pool", "deadlocks on its pool", pgrace::expect_hold(),
                            one_round(2, 2, std::chrono::milliseconds(600'000))};
  pgrace::RunSettings s = settings(1);
  s.timeout_s = 1.5;
  StuckOnThePool scenario;
  const pgrace::ScenarioResult r = pgrace::run_scenario(*server_, info, scenario, s);
  EXPECT_EQ(r.verdict, pgrace::Verdict::error);
  EXPECT_THAT(r.error, HasSubstr("timed out after")) << r.error;
  EXPECT_THAT(r.error, HasSubstr("worker 1 (iteration 0, in transaction() for "));
  EXPECT_THAT(r.error, HasSubstr("waiting for a pooled connection for "));
  EXPECT_THAT(r.error, HasSubstr("pooled connection 1 (leased by worker 0) [backend "));
  EXPECT_THAT(r.error, HasSubstr("waiting on Lock:relation"));
  EXPECT_THAT(r.error, ::testing::Not(HasSubstr("never returned"))) << "a worker was abandoned";
  ASSERT_TRUE(r.stress.pool.has_value());
}

// The server closes a leased connection left idle in a transaction.
class ClosedPooledConnection : public pgrace::Scenario {
 public:
  std::string schema() const override { return "CREATE TABLE t (x int)"; }
  void seed(pqxx::work&) override {}
  pgrace::TxResult transaction(pgrace::Worker& w) override {
    pgrace::Lease lease = w.pool().acquire();
    pqxx::nontransaction(*lease).exec("SET idle_in_transaction_session_timeout = '50ms'");
    pqxx::work tx(*lease);
    tx.exec("SELECT 1");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    tx.exec("SELECT 1");
    return pgrace::TxResult::committed;
  }
  std::vector<pgrace::Invariant> invariants() const override { return {}; }
};

TEST_F(PoolScenarios, ALostPooledConnectionIsNamed) {
  pgrace::ScenarioInfo info{"test.closed_pooled_connection", "idles in a transaction", pgrace::expect_hold(),
                            one_round(1, 3, std::chrono::milliseconds(100))};
  ClosedPooledConnection scenario;
  try {
    pgrace::run_scenario(*server_, info, scenario, settings(1));
    FAIL() << "the lost connection went unreported";
  } catch (const pgrace::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("lost the connection of pooled connection 0 (leased by worker 0)"));
  }
}

}  // namespace
