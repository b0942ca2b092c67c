// The scenario runners' fault matrix (issue 8, items 3, 9, 10, 12, 13, 17),
// on a real ephemeral PostgreSQL, through pgrace::run_scenario and the pgrace
// program.
//
// The invariant these tests check: a verdict needs evidence, and a broken
// scenario or a broken run never passes, never hangs and never leaves
// anything behind. A run in which nothing committed (every transaction failed
// or was rejected), fell below its declared throughput floor, or in which no
// schedule was feasible, is verdict "error" saying so; a scenario that
// declares committing nothing as expected is judged normally. A duration
// that is not finite and sane is a one-line usage error. A run stuck in the
// scenario's C++ code, or in SQL, ends at its timeout with verdict "error"
// naming the stuck threads and what their sessions were doing; their
// backends are cancelled, then terminated, and a thread that never returns
// is left behind without blocking anything, ending as soon as the scenario
// lets it. The statement timeout is settable. Scenario options are
// range-checked, so no option overflows into a false alarm. The scenario's
// own exceptions (constructor, seed, predicates) are its "error" verdict
// naming the phase; a failing seed statement is a one-line usage error. A
// lost monitor or control connection ends the run at once as an
// infrastructure error. After every case: no thread of the run is left, and
// no scenario database remains on the server.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <iostream>
#include <mutex>
#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "pgrace/connection.hpp"
#include "pgrace/error.hpp"
#include "pgrace/faults.hpp"
#include "pgrace/runner.hpp"
#include "pgrace/scenario.hpp"
#include "pgrace/server.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using namespace pgrace::test;
using pgrace::ExitCode;
using pgrace::OutcomeClass;
using ::testing::HasSubstr;
using ::testing::Not;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

int thread_count() {
  int n = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// A latch a stuck transaction or step waits on; the test opens it at the end.
// Shared, so that a thread left running keeps it alive.
class Gate {
 public:
  void wait() {
    std::unique_lock lock(mutex_);
    ++waiting_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return open_; });
    --waiting_;
  }
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  int waiting() {
    std::lock_guard lock(mutex_);
    return waiting_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = false;
  int waiting_ = 0;
};

using Transaction = std::function<pgrace::TxResult(pgrace::Worker&)>;

// A test-only stress scenario over t(id, v CHECK (v >= 0)) = (1, 0), (2, 0),
// whose parts are given by the test. Not registered.
class Configurable : public pgrace::Scenario {
 public:
  explicit Configurable(Transaction transaction) : transaction_(std::move(transaction)) {}
  std::string schema() const override { return "CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL CHECK (v >= 0))"; }
  void seed(pqxx::work& tx) override {
    if (seed_)
      seed_(tx);
    else
      tx.exec("INSERT INTO t VALUES (1, 0), (2, 0)");
  }
  pgrace::TxResult transaction(pgrace::Worker& w) override { return transaction_(w); }
  std::vector<pgrace::Invariant> invariants() const override {
    if (!invariants_.empty()) return invariants_;
    return {pgrace::no_rows("no row is negative", "SELECT * FROM t WHERE v < 0")};
  }

  std::function<void(pqxx::work&)> seed_;
  std::vector<pgrace::Invariant> invariants_;

 private:
  Transaction transaction_;
};

pgrace::TxResult increment(pgrace::Worker& w) {
  pqxx::work tx(w.connection());
  tx.exec("UPDATE t SET v = v + 1 WHERE id = 2");
  tx.commit();
  return pgrace::TxResult::committed;
}

pgrace::ScenarioInfo info_for(const std::string& name, int threads = 2, long iterations = 3) {
  pgrace::ScenarioInfo info;
  info.name = "test.fault." + name;
  info.description = "test-only scenario " + name;
  info.defaults.threads = threads;
  info.defaults.iterations = iterations;
  return info;
}

std::string describe(const pgrace::ScenarioResult& r) {
  std::string text =
      r.info.name + ": verdict " + pgrace::to_string(r.verdict) + ", error: " + r.error + "\n  outcomes:";
  for (const auto& [kind, n] : r.outcomes) text += std::string(" ") + pgrace::to_string(kind) + "=" + std::to_string(n);
  return text;
}

// One ephemeral server per suite (per process under ctest). Every case
// checks that it leaves no thread of this process and no scenario database.
class FaultRunner : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!server_) server_ = pgrace::Server::open(std::nullopt);
    std::thread([] {}).join();  // runtime helper threads (ThreadSanitizer's) exist before the first count
  }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    threads_before_ = thread_count();
    databases_before_ = scenario_databases();
  }
  void TearDown() override {
    EXPECT_TRUE(eventually([&] { return thread_count() == threads_before_; }, 10000ms))
        << thread_count() << " threads, " << threads_before_ << " before the case";
    EXPECT_EQ(scenario_databases(), databases_before_) << "a scenario database was left behind";
  }

  static std::set<std::string> scenario_databases() {
    auto c = pgrace::connect(server_->dsn());
    pqxx::nontransaction tx(*c);
    std::set<std::string> names;
    for (const auto& row : tx.exec("SELECT datname FROM pg_database WHERE datname LIKE 'pgrace\\_%' "
                                   "AND datname NOT LIKE 'pgrace\\_tpl\\_%'"))
      names.insert(row[0].as<std::string>());
    return names;
  }

  static pgrace::ScenarioResult run(const pgrace::ScenarioInfo& info, pgrace::Scenario& scenario,
                                    pgrace::RunSettings settings = {}) {
    return pgrace::run_scenario(*server_, info, scenario, settings);
  }

  // Runs a registered scenario with `options`.
  static pgrace::ScenarioResult run_registered(const std::string& name, pgrace::RunSettings settings,
                                               const std::vector<std::string>& options = {}) {
    for (const auto& d : pgrace::registered_scenarios()) {
      if (d.info.name != name) continue;
      pgrace::Options parsed(options);
      auto scenario = pgrace::make_scenario(d, parsed);
      return pgrace::run_scenario(*server_, d.info, *scenario, settings);
    }
    throw std::runtime_error("no registered scenario " + name);
  }

  // Sends `sql` (with $1 = `application_name`) on a connection of its own,
  // once a session named `application_name` exists; returns whether it did.
  static bool when_session_exists(const std::string& application_name, const std::string& sql) {
    auto c = pgrace::connect(server_->dsn());
    return eventually(
        [&] {
          pqxx::nontransaction tx(*c);
          return tx.exec_params(sql, application_name)[0][0].as<bool>();
        },
        10000ms);
  }

  // Expects `result` to be verdict "error", unmatched, with a one-line reason
  // containing every one of `parts`.
  static void expect_error_verdict(const pgrace::ScenarioResult& result, std::vector<std::string> parts) {
    SCOPED_TRACE(describe(result));
    EXPECT_EQ(result.verdict, pgrace::Verdict::error);
    EXPECT_FALSE(result.matched);
    EXPECT_EQ(result.error.find('\n'), std::string::npos) << "the reason is one line";
    for (const auto& part : parts) EXPECT_THAT(result.error, HasSubstr(part));
    std::cout << "[ reason   ] " << result.error << "\n";
  }

  static std::unique_ptr<pgrace::Server> server_;
  int threads_before_ = 0;
  std::set<std::string> databases_before_;
};
std::unique_ptr<pgrace::Server> FaultRunner::server_;

// Runs `f`, which must throw pgrace::Error; returns its code and one-line message.
template <typename F>
std::pair<std::optional<ExitCode>, std::string> error_of(F&& f) {
  try {
    f();
  } catch (const pgrace::Error& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line: " << e.what();
    return {e.code(), e.what()};
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw something other than pgrace::Error: " << e.what();
    return {std::nullopt, e.what()};
  }
  ADD_FAILURE() << "did not throw";
  return {std::nullopt, ""};
}

// --------------------------------------------------- 3. a verdict needs evidence

TEST_F(FaultRunner, EveryTransactionFailingWithASqlErrorIsAnErrorVerdictNotAPass) {
  Configurable scenario([](pgrace::Worker& w) {
    pqxx::work tx(w.connection());
    tx.exec("UPDATE t SET v = 1 / (v - v)");  // division by zero, whatever v is
    tx.commit();
    return pgrace::TxResult::committed;
  });
  const auto r = run(info_for("division_by_zero"), scenario);
  expect_error_verdict(r, {"no transaction committed in repetition 1 of 1", "other_sql_error=6", "22012",
                           "division by zero", "expects_no_commits"});
  EXPECT_EQ(r.outcomes.at(OutcomeClass::other_sql_error), 6);
}

TEST_F(FaultRunner, EveryTransactionRejectedIsAnErrorVerdictNotAPass) {
  Configurable scenario([](pgrace::Worker&) { return pgrace::TxResult::rejected; });
  const auto r = run(info_for("all_rejected"), scenario);
  expect_error_verdict(r, {"no transaction committed", "rejected=6", "the run tested nothing"});
}

// Every transaction rejected, and an invariant violated all the same (here
// by the seed): no committed transaction explains the violation, and the
// error says so instead of claiming that the run tested nothing.
TEST_F(FaultRunner, AViolationWithNothingCommittedIsAnErrorThatSaysNoTransactionExplainsIt) {
  Configurable scenario([](pgrace::Worker&) { return pgrace::TxResult::rejected; });
  scenario.invariants_ = {pgrace::no_rows("no row is still 0", "SELECT * FROM t WHERE v = 0")};
  const auto r = run(info_for("violated_by_the_seed"), scenario);
  expect_error_verdict(r, {"no transaction committed", "rejected=6",
                           "no transaction of the run committed, so none explains the violation"});
  EXPECT_THAT(r.error, Not(HasSubstr("tested nothing")));
}

TEST_F(FaultRunner, AScenarioThatExpectsNoCommitsIsJudgedNormally) {
  Configurable scenario([](pgrace::Worker&) { return pgrace::TxResult::rejected; });
  auto info = info_for("expects_no_commits");
  info.expects_no_commits = true;
  const auto r = run(info, scenario);
  EXPECT_EQ(r.verdict, pgrace::Verdict::held) << describe(r);
  EXPECT_TRUE(r.matched);
  EXPECT_EQ(r.error, "");
}

TEST_F(FaultRunner, ARepetitionBelowTheThroughputFloorIsAnErrorVerdictNamingTheFloorAndTheShare) {
  // Worker 0 commits, worker 1 is rejected: half of the transactions commit.
  Configurable scenario([](pgrace::Worker& w) { return w.index() == 0 ? increment(w) : pgrace::TxResult::rejected; });
  auto info = info_for("floor", 2, 5);
  info.min_committed_share = 0.9;
  const auto below = run(info, scenario);
  expect_error_verdict(below,
                       {"only 5 of 10 transactions (50%) committed in repetition 1 of 1", "min_committed_share = 0.9"});

  info.min_committed_share = 0.5;
  const auto at = run(info, scenario);
  EXPECT_EQ(at.verdict, pgrace::Verdict::held) << describe(at);
  EXPECT_TRUE(at.matched);
}

TEST_F(FaultRunner, DurationMustBeFiniteAndSane) {
  for (double d : {std::numeric_limits<double>::infinity(), 1e30, 1e-9, 0.0, -1.0,
                   std::numeric_limits<double>::quiet_NaN(), 86400.5}) {
    pgrace::RunSettings s;
    s.duration_s = d;
    const auto [code, message] = error_of([&] { pgrace::apply_overrides(pgrace::Knobs{}, s); });
    EXPECT_EQ(code, ExitCode::usage) << d;
    EXPECT_THAT(message, HasSubstr("duration_s must be seconds from 0.01 to 86400")) << d;
  }
  for (double d : {0.01, 3.0, 86400.0}) {
    pgrace::RunSettings s;
    s.duration_s = d;
    EXPECT_NO_THROW(pgrace::apply_overrides(pgrace::Knobs{}, s)) << d;
  }
}

// The shortest duration still runs a round: it tests something.
TEST_F(FaultRunner, TheShortestDurationStillRunsEveryWorkerOnce) {
  Configurable scenario(increment);
  pgrace::RunSettings s;
  s.duration_s = 0.01;
  const auto r = run(info_for("short", 4), scenario, s);
  EXPECT_EQ(r.verdict, pgrace::Verdict::held) << describe(r);
  EXPECT_GE(r.outcomes.at(OutcomeClass::committed), 4);
}

TEST_F(FaultRunner, AnInterleaveRunWithNoFeasibleScheduleIsAnErrorVerdict) {
  struct Blocked : pgrace::Scenario {
    std::string schema() const override { return "CREATE TABLE t (id int PRIMARY KEY, v int)"; }
    void seed(pqxx::work& tx) override { tx.exec("INSERT INTO t VALUES (1, 0)"); }
    std::vector<pgrace::Session> sessions() const override {
      return {{"s1",
               "",
               {pgrace::sql_step("b1", "BEGIN"), pgrace::sql_step("u1", "UPDATE t SET v = 1"),
                pgrace::sql_step("c1", "COMMIT")}},
              {"s2",
               "",
               {pgrace::sql_step("b2", "BEGIN"), pgrace::sql_step("u2", "UPDATE t SET v = 2"),
                pgrace::sql_step("c2", "COMMIT")}}};
    }
    // c2 while u2 still waits for s1's lock: never feasible.
    std::vector<std::vector<std::string>> schedules() const override { return {{"b1", "u1", "b2", "u2", "c2", "c1"}}; }
    std::vector<pgrace::Invariant> invariants() const override {
      return {pgrace::no_rows("none", "SELECT 1 WHERE false")};
    }
  } scenario;
  const auto r = run(info_for("no_feasible_schedule"), scenario);
  expect_error_verdict(r, {"no schedule was feasible (1 explored", "step c2 cannot start"});
  EXPECT_EQ(r.exploration.infeasible, 1);
}

// ----------------------------------------------------- 9. the run's time bound

// Worker 0 takes the row lock of t.id = 2 and then blocks in C++ until the
// test opens the gate; the others wait on that lock. The run must end at its
// timeout, say who was stuck doing what, free the others (cancel, terminate)
// and leave worker 0 behind without blocking; opening the gate ends it.
TEST_F(FaultRunner, ATransactionStuckInCppHoldingALockEndsAtTheTimeoutNamingTheStuckWorkers) {
  auto gate = std::make_shared<Gate>();
  Configurable scenario([gate](pgrace::Worker& w) {
    pqxx::work tx(w.connection());
    if (w.index() != 0)
      while (gate->waiting() == 0) std::this_thread::sleep_for(1ms);  // until worker 0 holds the lock
    tx.exec("UPDATE t SET v = v + 1 WHERE id = 2");
    if (w.index() == 0) gate->wait();  // stuck in C++, holding the lock
    tx.commit();
    return pgrace::TxResult::committed;
  });
  pgrace::RunSettings s;
  s.timeout_s = 2;
  s.statement_timeout_s = 0;  // nothing but the run's timeout ends the lock waits
  const auto start = Clock::now();
  const auto r = run(info_for("stuck_in_cpp", 3, 1), scenario, s);
  const double seconds = seconds_since(start);
  std::cout << "[ info     ] ended after " << seconds << " s\n";
  expect_error_verdict(r, {"timed out after 2 s (--timeout) in repetition 1", "worker 0 (iteration 0, in transaction()",
                           "idle in transaction", "active, waiting on Lock:",
                           "pgrace cancelled their backends, then terminated those that went on",
                           "worker 0 never returned (stuck in the scenario's C++ code) and was left running"});
  EXPECT_GE(seconds, 2.0);
  EXPECT_LT(seconds, 8.0);
  EXPECT_EQ(gate->waiting(), 1) << "worker 0 is still stuck, left behind";
  gate->open();
  // Once free, the thread left behind ends (before the scenario it runs goes).
  EXPECT_TRUE(eventually([&] { return gate->waiting() == 0 && thread_count() == threads_before_; }, 10000ms));
}

TEST_F(FaultRunner, ATransactionStuckInSqlEndsAtTheTimeoutAndItsBackendIsCancelled) {
  Configurable scenario([](pgrace::Worker& w) {
    pqxx::work tx(w.connection());
    tx.exec("SELECT pg_sleep(600)");
    tx.commit();
    return pgrace::TxResult::committed;
  });
  pgrace::RunSettings s;
  s.timeout_s = 1;
  s.statement_timeout_s = 0;
  const auto start = Clock::now();
  const auto r = run(info_for("stuck_in_sql", 2, 1), scenario, s);
  const double seconds = seconds_since(start);
  expect_error_verdict(r, {"timed out after 1 s (--timeout)", "worker 0", "worker 1", "active",
                           "last query: SELECT pg_sleep(600)", "pgrace cancelled their backends"});
  EXPECT_THAT(r.error, Not(HasSubstr("never returned")));
  EXPECT_THAT(r.error, Not(HasSubstr("terminated")));
  EXPECT_LT(seconds, 4.0);
  EXPECT_EQ(thread_count(), threads_before_) << "every worker was joined";
}

// Every reply is held 1.9 s by an injected delay_reply, so the workers are
// held at the wire when the 2 s timeout passes. The holds are cut short
// there: the workers end promptly and are joined, and the error says the
// injected delay held them, not that they were stuck in the scenario's code.
// (They were left running, "stuck in the scenario's C++ code", until each
// delay ran out.)
TEST_F(FaultRunner, WorkersHeldByAnInjectedDelayAtTheTimeoutAreReleasedAndTheDelayIsNamed) {
  Configurable scenario([](pgrace::Worker& w) {  // each worker its own row: neither waits for the other's lock
    pqxx::work tx(w.connection());
    tx.exec("UPDATE t SET v = v + 1 WHERE id = " + std::to_string(w.index() + 1));
    tx.commit();
    return pgrace::TxResult::committed;
  });
  auto info = info_for("held_by_delay", 2, 100);
  info.defaults.faults = {pgrace::FaultRule{pgrace::FaultKind::delay_reply, pgrace::FaultTarget::any, 1, 1900ms}};
  pgrace::RunSettings s;
  s.timeout_s = 2;
  const auto start = Clock::now();
  const auto r = run(info, scenario, s);
  const double seconds = seconds_since(start);
  std::cout << "[ info     ] ended after " << seconds << " s\n";
  expect_error_verdict(r, {"timed out after 2 s (--timeout) in repetition 1", "worker 0, worker 1 waited for a reply",
                           "injected delay_reply fault held back (1900 ms, 1900 ms)", "let the held replies go"});
  EXPECT_THAT(r.error, Not(HasSubstr("stuck in the scenario's C++ code")));
  EXPECT_THAT(r.error, Not(HasSubstr("never returned")));
  EXPECT_LT(seconds, 4.5);
  EXPECT_EQ(thread_count(), threads_before_) << "every worker was joined";
}

// Statement-level exploration (explore --workers): worker 0 is stuck in C++
// past the timeout and left running. Once the run is over, and the runner
// with its request scheduler and proxy is gone, the test lets it go on: it
// asks for its connection again, which consults the scheduler (and would
// reopen the connection after a drop). It must touch nothing freed: the
// scheduler and the connection's parameters are shared with the thread.
// (Under AddressSanitizer or ThreadSanitizer this read freed memory.)
TEST_F(FaultRunner, AWorkerLeftRunningPastAStatementLevelRunTouchesNothingFreed) {
  auto gate = std::make_shared<Gate>();
  auto went_on = std::make_shared<std::atomic<bool>>(false);
  Configurable scenario([gate, went_on](pgrace::Worker& w) {
    if (w.index() != 0) return increment(w);
    gate->wait();
    try {
      pqxx::nontransaction tx(w.connection());
      tx.exec("SELECT 1");
    } catch (const std::exception&) {
      // The run's proxy is gone: its connection is closed.
    }
    *went_on = true;
    return pgrace::TxResult::committed;
  });
  pgrace::RunSettings s;
  s.statement_workers = 2;
  s.timeout_s = 1;
  const auto r = run(info_for("left_by_explore", 2, 1), scenario, s);
  expect_error_verdict(r, {"worker 0 never returned (stuck in the scenario's C++ code)"});
  gate->open();
  EXPECT_TRUE(eventually([&] { return went_on->load() && thread_count() == threads_before_; }, 10000ms));
}

// A delay that is not shorter than the run's timeout would hold a worker
// past it: a usage error naming both.
TEST_F(FaultRunner, ADelayNotShorterThanTheTimeoutIsAUsageError) {
  pgrace::RunSettings s;
  s.timeout_s = 2;
  for (long ms : {2000L, 60000L}) {
    s.faults = std::vector<pgrace::FaultRule>{
        {pgrace::FaultKind::delay_reply, pgrace::FaultTarget::commit, 0.5, std::chrono::milliseconds(ms)}};
    const auto [code, message] = error_of([&] { pgrace::apply_overrides(pgrace::Knobs{}, s); });
    EXPECT_EQ(code, ExitCode::usage) << ms;
    EXPECT_THAT(message, HasSubstr("timeout_s 2 is not longer than the reply delay of fault delay_reply:commit:0.5:" +
                                   std::to_string(ms) + "ms"));
  }
  s.faults = std::vector<pgrace::FaultRule>{{pgrace::FaultKind::delay_reply, pgrace::FaultTarget::any, 1, 1999ms}};
  EXPECT_NO_THROW(pgrace::apply_overrides(pgrace::Knobs{}, s));
  s.timeout_s.reset();
  s.faults = std::vector<pgrace::FaultRule>{{pgrace::FaultKind::delay_reply, pgrace::FaultTarget::any, 1, 60000ms}};
  EXPECT_NO_THROW(pgrace::apply_overrides(pgrace::Knobs{}, s)) << "no --timeout given";
}

TEST_F(FaultRunner, TheStatementTimeoutIsThirtySecondsAndSettable) {
  auto seen = std::make_shared<std::string>();
  Configurable show([seen](pgrace::Worker& w) {
    pqxx::work tx(w.connection());
    *seen = tx.exec("SHOW statement_timeout")[0][0].as<std::string>();
    tx.exec("UPDATE t SET v = v + 1 WHERE id = 2");
    tx.commit();
    return pgrace::TxResult::committed;
  });
  EXPECT_EQ(run(info_for("statement_timeout_default", 1, 1), show).verdict, pgrace::Verdict::held);
  EXPECT_EQ(*seen, "30s");

  Configurable sleeper([](pgrace::Worker& w) {
    pqxx::work tx(w.connection());
    tx.exec("SELECT pg_sleep(5)");
    tx.commit();
    return pgrace::TxResult::committed;
  });
  pgrace::RunSettings s;
  s.statement_timeout_s = 0.2;
  const auto start = Clock::now();
  const auto r = run(info_for("statement_timeout_set", 2, 1), sleeper, s);
  EXPECT_LT(seconds_since(start), 3.0);
  EXPECT_EQ(r.outcomes.at(OutcomeClass::cancelled), 2) << describe(r);
  expect_error_verdict(r, {"no transaction committed", "57014", "statement timeout"});

  for (double bad : {-1.0, 0.0001, 1e9, std::numeric_limits<double>::quiet_NaN()}) {
    pgrace::RunSettings b;
    b.statement_timeout_s = bad;
    const auto [code, message] = error_of([&] { pgrace::apply_overrides(pgrace::Knobs{}, b); });
    EXPECT_EQ(code, ExitCode::usage) << bad;
    EXPECT_THAT(message, HasSubstr("statement_timeout_s must be 0 or seconds")) << bad;
  }
}

TEST_F(FaultRunner, TimeoutMustBeSaneAndLongerThanThePlannedDuration) {
  for (double bad : {0.0, -5.0, 1e12, std::numeric_limits<double>::infinity()}) {
    pgrace::RunSettings s;
    s.timeout_s = bad;
    const auto [code, message] = error_of([&] { pgrace::apply_overrides(pgrace::Knobs{}, s); });
    EXPECT_EQ(code, ExitCode::usage) << bad;
    EXPECT_THAT(message, HasSubstr("timeout_s must be seconds from 0.1")) << bad;
  }
  pgrace::RunSettings s;
  s.timeout_s = 5;
  s.duration_s = 3;
  s.repeat = 2;
  const auto [code, message] = error_of([&] { pgrace::apply_overrides(pgrace::Knobs{}, s); });
  EXPECT_EQ(code, ExitCode::usage);
  EXPECT_THAT(message, HasSubstr("not longer than the planned run"));
}

// A C++ step stuck past the step timeout ignores its cancellation: its
// backend is terminated, it is left behind, and the run is an error verdict.
TEST_F(FaultRunner, AnInterleaveStepStuckInCppIsLeftBehindAndTheRunIsAnErrorVerdict) {
  auto gate = std::make_shared<Gate>();
  struct StuckStep : pgrace::Scenario {
    std::shared_ptr<Gate> gate;
    std::string schema() const override { return "CREATE TABLE t (id int PRIMARY KEY, v int)"; }
    void seed(pqxx::work& tx) override { tx.exec("INSERT INTO t VALUES (1, 0)"); }
    std::vector<pgrace::Session> sessions() const override {
      auto g = gate;
      return {{"s1", "", {pgrace::sql_step("b1", "BEGIN"), pgrace::cpp_step("x1", [g](pgrace::StepContext& ctx) {
                            ctx.exec("UPDATE t SET v = 1");
                            g->wait();
                          })}}};
    }
    std::vector<pgrace::Invariant> invariants() const override {
      return {pgrace::no_rows("none", "SELECT 1 WHERE false")};
    }
  } scenario;
  scenario.gate = gate;
  pgrace::RunSettings s;
  s.step_timeout = std::chrono::milliseconds(500);
  const auto start = Clock::now();
  const auto r = run(info_for("stuck_step"), scenario, s);
  EXPECT_LT(seconds_since(start), 6.0);
  expect_error_verdict(r, {"step x1 of session s1 neither completed nor waited on a lock within the step timeout "
                           "and ignored its cancellation",
                           "session s1 (running step x1) [backend", "idle in transaction",
                           "session s1 never returned (stuck in the scenario's C++ code)"});
  EXPECT_EQ(gate->waiting(), 1) << "the step is still stuck, left behind";
  gate->open();
  EXPECT_TRUE(eventually([&] { return gate->waiting() == 0 && thread_count() == threads_before_; }, 10000ms));
}

TEST_F(FaultRunner, AnInterleaveRunPastItsTimeoutEndsNamingTheRunningSession) {
  struct Slow : pgrace::Scenario {
    std::string schema() const override { return "CREATE TABLE t (id int PRIMARY KEY)"; }
    void seed(pqxx::work&) override {}
    std::vector<pgrace::Session> sessions() const override {
      return {{"s1", "", {pgrace::sql_step("z1", "SELECT pg_sleep(600)")}}};
    }
    std::vector<pgrace::Invariant> invariants() const override {
      return {pgrace::no_rows("none", "SELECT 1 WHERE false")};
    }
  } scenario;
  pgrace::RunSettings s;
  s.step_timeout = std::chrono::milliseconds(60000);
  s.timeout_s = 1;
  const auto start = Clock::now();
  const auto r = run(info_for("interleave_timeout"), scenario, s);
  EXPECT_LT(seconds_since(start), 4.0);
  expect_error_verdict(r, {"timed out after 1 s (--timeout) in schedule 1 of 1", "session s1 (running step z1)",
                           "last query: SELECT pg_sleep(600)", "pgrace cancelled their backends"});
}

// ------------------------------------------------- 10. options and overflow

TEST_F(FaultRunner, OptionsOutsideTheirRangeAreOneLineUsageErrorsNamingTheRange) {
  pgrace::Options options({"n=11", "m=-3", "big=99999999999999999999", "x=inf", "y=2.5", "word=abc"});
  auto [code, message] = error_of([&] { options.get_int("n", 1, 0, 10); });
  EXPECT_EQ(code, ExitCode::usage);
  EXPECT_EQ(message, "option n=11 is out of range: give a whole number from 0 to 10");
  std::tie(code, message) = error_of([&] { options.get_int("m", 1, 0); });
  EXPECT_EQ(message, "option m=-3 is out of range: give a whole number of at least 0");
  std::tie(code, message) = error_of([&] { options.get_int("big", 1); });
  EXPECT_THAT(message, HasSubstr("out of range"));
  std::tie(code, message) = error_of([&] { options.get_int("word", 1, 0, 5); });
  EXPECT_EQ(message, "option word=abc is not a whole number: give a whole number from 0 to 5");
  std::tie(code, message) = error_of([&] { options.get_double("x", 1); });
  EXPECT_EQ(message, "option x=inf is not a finite number: give a number");
  std::tie(code, message) = error_of([&] { options.get_double("y", 1, 0, 1); });
  EXPECT_EQ(message, "option y=2.5 is out of range: give a number from 0 to 1");
  EXPECT_EQ(options.get_int("n", 1, 0, 11), 11);
}

TEST_F(FaultRunner, TransferOptionsAreBoundedSoNoTotalOverflows) {
  const auto& definitions = pgrace::registered_scenarios();
  const auto& for_update = *std::find_if(definitions.begin(), definitions.end(),
                                         [](auto& d) { return d.info.name == "transfer.for_update"; });
  for (const auto& [item, range] :
       std::vector<std::pair<std::string, std::string>>{{"balance=9223372036854775807", "from 0 to 1000000000000"},
                                                        {"accounts=3000000000", "from 2 to 1000000"},
                                                        {"max_amount=0", "from 1 to 1000000000000"},
                                                        {"think_us=100000000", "from 0 to 10000000"}}) {
    pgrace::Options options({item});
    const auto [code, message] = error_of([&] { pgrace::make_scenario(for_update, options); });
    EXPECT_EQ(code, ExitCode::usage) << item;
    EXPECT_EQ(message, "option " + item + " is out of range: give a whole number " + range);
  }
  // At the largest values the expected total is exact: 10^6 x 10^12.
  pgrace::Options largest({"accounts=1000000", "balance=1000000000000"});
  const auto scenario = pgrace::make_scenario(for_update, largest);
  bool found = false;
  for (const auto& inv : scenario->invariants()) {
    if (inv.name != "total balance is conserved") continue;
    found = true;
    EXPECT_EQ(inv.expected, "1000000000000000000");
  }
  EXPECT_TRUE(found);
}

TEST_F(FaultRunner, TheLargestBalanceDoesNotMakeAFalseAlarm) {
  pgrace::RunSettings s;
  s.iterations = 5;
  const auto r = run_registered("transfer.for_update", s, {"balance=1000000000000", "max_amount=1000000000000"});
  EXPECT_EQ(r.verdict, pgrace::Verdict::held) << describe(r);
  EXPECT_TRUE(r.matched);
}

// --------------------------------- 12, 13. the scenario's own failures, by phase

TEST_F(FaultRunner, ASeedThatViolatesACheckIsAOneLineUsageErrorNamingScenarioPhaseAndFix) {
  Configurable scenario(increment);
  scenario.seed_ = [](pqxx::work& tx) { tx.exec("INSERT INTO t VALUES (1, -1)"); };
  const auto [code, message] = error_of([&] { run(info_for("seed_check"), scenario); });
  EXPECT_EQ(code, ExitCode::usage);
  EXPECT_THAT(message, HasSubstr("test.fault.seed_check: seed() failed: new row for relation \"t\" violates check "
                                 "constraint"));
  EXPECT_THAT(message, HasSubstr("SQLSTATE 23514; fix the scenario's seed() or its options"));
}

TEST_F(FaultRunner, AnExceptionInSeedIsTheScenariosErrorVerdictNamingThePhase) {
  Configurable scenario(increment);
  scenario.seed_ = [](pqxx::work&) { throw std::runtime_error("no fixtures file"); };
  expect_error_verdict(run(info_for("seed_throws"), scenario), {"seed() threw: no fixtures file"});
}

TEST_F(FaultRunner, AnExceptionInTransactionIsTheScenariosErrorVerdictNamingThePhase) {
  Configurable scenario([](pgrace::Worker&) -> pgrace::TxResult { throw std::runtime_error("null account"); });
  const auto r = run(info_for("transaction_throws"), scenario);
  expect_error_verdict(r, {"transaction() threw: null account"});
  EXPECT_EQ(r.outcomes.at(OutcomeClass::scenario_error), 2) << "each worker stopped at its first";
}

TEST_F(FaultRunner, AnExceptionInTheConstructorIsTheScenariosErrorVerdictNamingThePhase) {
  struct Throws : Configurable {
    explicit Throws(pgrace::Options&) : Configurable(increment) { throw std::runtime_error("cannot read config"); }
  };
  const pgrace::ScenarioDefinition definition{
      info_for("constructor_throws"),
      [](pgrace::Options& o) -> std::unique_ptr<pgrace::Scenario> { return std::make_unique<Throws>(o); }};
  pgrace::Options options;
  const auto scenario = pgrace::make_scenario(definition, options);
  ASSERT_NE(scenario, nullptr);
  expect_error_verdict(run(definition.info, *scenario), {"the constructor threw: cannot read config"});

  // A pgrace::Error (a bad option) keeps its exit code.
  const pgrace::ScenarioDefinition bad_option{info_for("bad_option"),
                                              [](pgrace::Options&) -> std::unique_ptr<pgrace::Scenario> {
                                                throw pgrace::usage_error("option x=1 is out of range");
                                              }};
  EXPECT_EQ(error_of([&] { pgrace::make_scenario(bad_option, options); }).first, ExitCode::usage);
}

TEST_F(FaultRunner, AnExceptionInAPredicateIsTheScenariosErrorVerdictNamingTheInvariantAndWhen) {
  Configurable after(increment);
  after.invariants_ = {pgrace::predicate(
      "counted", [](const pgrace::CheckContext&) -> std::vector<std::string> { throw std::out_of_range("map::at"); },
      /*during_run=*/false)};
  expect_error_verdict(run(info_for("predicate_throws"), after),
                       {"invariant \"counted\" threw in the final check: map::at"});

  Configurable during(increment);
  during.invariants_ = {pgrace::predicate(
      "watched", [](const pgrace::CheckContext&) -> std::vector<std::string> { throw std::logic_error("bug"); })};
  expect_error_verdict(run(info_for("predicate_throws_during_run"), during),
                       {"invariant \"watched\" threw during the run: bug"});
}

// -------------------------------------------- 17. a lost monitor or control

// Terminates the backend of pgrace's session `application_name` during a
// 20 s run: the run must end within 2 s as an infrastructure error.
void expect_prompt_infrastructure_error(const std::string& application_name, const std::string& expected,
                                        const std::function<pgrace::ScenarioResult()>& run,
                                        const std::function<bool(const std::string&, const std::string&)>& when) {
  std::promise<std::exception_ptr> finished;
  auto result = finished.get_future();
  std::thread runner([&] {
    try {
      run();
      finished.set_value(nullptr);
    } catch (...) {
      finished.set_value(std::current_exception());
    }
  });
  ASSERT_TRUE(when(application_name, "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = $1"));
  std::this_thread::sleep_for(300ms);
  ASSERT_TRUE(when(application_name,
                   "SELECT bool_or(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1"));
  const auto terminated = Clock::now();
  const auto status = result.wait_for(25s);
  runner.join();
  ASSERT_EQ(status, std::future_status::ready);
  const double seconds = seconds_since(terminated);
  EXPECT_LT(seconds, 2.0) << "noticed " << seconds << " s after the termination";
  const auto error = result.get();
  ASSERT_TRUE(error) << "the run went on without its " << application_name << " connection";
  try {
    std::rethrow_exception(error);
  } catch (const pgrace::Error& e) {
    EXPECT_EQ(e.code(), ExitCode::infrastructure) << e.what();
    EXPECT_THAT(e.what(), HasSubstr(expected));
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    std::cout << "[ reason   ] " << e.what() << "\n";
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw something other than pgrace::Error: " << e.what();
  }
}

TEST_F(FaultRunner, LosingTheMonitorConnectionEndsTheRunAtOnce) {
  Configurable scenario(increment);
  pgrace::RunSettings s;
  s.duration_s = 20;
  expect_prompt_infrastructure_error(
      "pgrace-monitor", "lost the connection of the invariant monitor to the server while running test.fault.monitor",
      [&] { return run(info_for("monitor"), scenario, s); }, when_session_exists);
}

TEST_F(FaultRunner, LosingTheControlConnectionEndsTheRunAtOnce) {
  Configurable scenario(increment);
  pgrace::RunSettings s;
  s.duration_s = 20;
  expect_prompt_infrastructure_error(
      "pgrace-control",
      "lost the connection of pgrace's control session to the server while running test.fault.control",
      [&] { return run(info_for("control"), scenario, s); }, when_session_exists);
}

// ------------------------------------------------------------ the CLI

// One line on stderr, the exit code, nothing on stdout but what is asked.
void expect_cli_error(const std::vector<std::string>& args, int code, const std::string& expected) {
  const auto r = run_pgrace(args, without_dsn());
  EXPECT_EQ(r.exit_code, code) << r.out << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  EXPECT_THAT(r.err, HasSubstr(expected));
  std::cout << "[ stderr   ] " << r.err;
}

TEST(FaultRunnerCli, NonsenseDurationsTimeoutsAndOptionsAreOneLineUsageErrors) {
  const std::string t = "transfer.for_update";
  for (const char* d : {"inf", "1e30", "1e-9", "nan"}) expect_cli_error({"run", t, "--duration", d}, 2, "--duration");
  expect_cli_error({"run", t, "--duration", "3", "--timeout", "2"}, 2, "not longer than the planned run");
  expect_cli_error({"run", t, "--timeout", "0"}, 2,
                   "--timeout must be seconds from 0.1 to 2592000 (digits, with at most one '.'), got '0'");
  expect_cli_error({"run", t, "--statement-timeout", "-1"}, 2, "--statement-timeout must be 0 or seconds");
  expect_cli_error({"run", t, "-o", "balance=9223372036854775807"}, 2,
                   "option balance=9223372036854775807 is out of range: give a whole number from 0 to 1000000000000");
  expect_cli_error({"run", t, "-o", "accounts=3000000000"}, 2, "option accounts=3000000000 is out of range");
  expect_cli_error({"explore", "transfer.lost_update_schedule", "--timeout", "nan"}, 2, "--timeout");
  expect_cli_error({"run", "payment.retry_any_error", "--fault", "delay_reply:60000ms", "--timeout", "2"}, 2,
                   "--timeout 2 is not longer than the reply delay of fault delay_reply:any:1:60000ms: give a shorter "
                   "delay or a longer timeout");
}

// A run longer than its --timeout ends there, as verdict "error" (exit 1),
// and the process exits.
TEST(FaultRunnerCli, ARunPastItsTimeoutIsAnErrorVerdictAndExitsOne) {
  TempDir dir;
  const std::string report = (dir.path() / "r.json").string();
  const auto r =
      run_pgrace({"run", "transfer.for_update", "--iterations", "1000000000", "--timeout", "1", "--report", report},
                 without_dsn(), 60s);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_LT(r.seconds, 20.0);
  EXPECT_THAT(r.out, HasSubstr("FAIL transfer.for_update: error"));
  EXPECT_THAT(r.out, HasSubstr("timed out after 1 s (--timeout) in repetition 1"));
  std::ifstream in(report);
  const std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(json, HasSubstr("timed out after 1 s"));
}

}  // namespace
