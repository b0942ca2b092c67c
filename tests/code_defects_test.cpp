// No pass for code that is broken rather than racy, on a real ephemeral
// PostgreSQL: a query that fails with an error concurrency never causes
// (an undefined table on a rarely taken path) is verdict "error" naming the
// first, in run, explore and interleave mode, unless the scenario expects
// such errors; and a transaction that said it committed while the server
// rolled it back (a forgotten tx.commit()) is verdict "error" too, in run
// and explore.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "faults/rules.hpp"
#include "pgrace/outcome.hpp"
#include "pgrace/runner.hpp"
#include "pgrace/scenario.hpp"
#include "pgrace/server.hpp"
#include "scenario_support.hpp"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A stock of `stock` units; each transaction reserves one under a lock.
// `broken_path`: when the stock is out, the branch taken then inserts into
// a table that does not exist. `forget_commit`: the reservation returns
// committed without committing (its pqxx::work rolls back when destroyed).
class Reservations : public pgrace::Scenario {
 public:
  Reservations(bool broken_path, bool forget_commit, int stock)
      : broken_path_(broken_path), forget_commit_(forget_commit), stock_(stock) {}
  std::string schema() const override {
    return "CREATE TABLE stock (id int PRIMARY KEY, left_over int NOT NULL);"
           "CREATE TABLE reservations (id serial PRIMARY KEY)";
  }
  void seed(pqxx::work& tx) override { tx.exec("INSERT INTO stock VALUES (1, " + std::to_string(stock_) + ")"); }
  pgrace::TxResult transaction(pgrace::Worker& w) override {
    pqxx::work tx(w.connection());
    const int left = tx.exec1("SELECT left_over FROM stock WHERE id = 1 FOR UPDATE")[0].as<int>();
    if (left <= 0) {
      if (broken_path_) tx.exec0("INSERT INTO backorders DEFAULT VALUES");
      return pgrace::TxResult::rejected;
    }
    tx.exec0("UPDATE stock SET left_over = left_over - 1 WHERE id = 1");
    tx.exec0("INSERT INTO reservations DEFAULT VALUES");
    if (!forget_commit_) tx.commit();
    return pgrace::TxResult::committed;
  }
  std::vector<pgrace::Invariant> invariants() const override {
    return {pgrace::no_rows("stock never negative", "SELECT id, left_over FROM stock WHERE left_over < 0")};
  }

 private:
  bool broken_path_, forget_commit_;
  int stock_;
};

pgrace::ScenarioInfo reservations_info(bool expects_code_errors = false) {
  pgrace::Knobs knobs;
  knobs.threads = 4;
  knobs.iterations = 3;  // 12 reservations of a stock of 3: the out-of-stock branch is taken
  pgrace::ScenarioInfo info{"test.reservations", "", pgrace::expect_hold(), knobs};
  info.expects_code_errors = expects_code_errors;
  return info;
}

class CodeDefects : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!server_) server_ = pgrace::Server::open(std::nullopt);
  }
  static void TearDownTestSuite() { server_.reset(); }
  static pgrace::ScenarioResult run(bool broken_path, bool forget_commit, pgrace::RunSettings settings = {},
                                    bool expects_code_errors = false, int stock = 3) {
    Reservations scenario(broken_path, forget_commit, stock);
    return pgrace::run_scenario(*server_, reservations_info(expects_code_errors), scenario, settings);
  }
  // Two workers, one transaction each, on a stock of `stock`.
  static pgrace::ScenarioResult explore(bool broken_path, bool forget_commit, int stock) {
    pgrace::RunSettings settings;
    settings.statement_workers = 2;
    settings.max_switches = 1;
    return run(broken_path, forget_commit, settings, false, stock);
  }
  static std::unique_ptr<pgrace::Server> server_;
};
std::unique_ptr<pgrace::Server> CodeDefects::server_;

TEST(CodeErrors, ClassesThatConcurrencyNeverCausesAreCodeErrors) {
  for (const char* sqlstate : {"42P01", "42703", "42601", "42501", "0A000", "26000", "34000", "3D000", "3F000"})
    EXPECT_TRUE(pgrace::is_code_error(sqlstate)) << sqlstate;
  for (const char* sqlstate : {"", "40001", "40P01", "23505", "55P03", "57014", "08006", "22012", "42", "4200"})
    EXPECT_FALSE(pgrace::is_code_error(sqlstate)) << sqlstate;
}

TEST(CodeErrors, RollbacksAreToldFromSavepointsAndPreparedOnes) {
  for (const char* sql : {"ROLLBACK", "rollback", "  ABORT", "ROLLBACK WORK", "ROLLBACK AND NO CHAIN",
                          "/* c */ ROLLBACK TRANSACTION", "SELECT 1; ROLLBACK"})
    EXPECT_TRUE(pgrace::detail::is_rollback(sql)) << sql;
  for (const char* sql : {"ROLLBACK TO SAVEPOINT a", "ROLLBACK TO a", "ROLLBACK PREPARED 'x'", "COMMIT",
                          "SELECT 'ROLLBACK'", "-- ROLLBACK"})
    EXPECT_FALSE(pgrace::detail::is_rollback(sql)) << sql;
}

// The correct reservation holds; the same code with a broken query on the
// out-of-stock path is an error naming the SQLSTATE, the count and the
// first message, in run and in explore.
TEST_F(CodeDefects, ABrokenQueryOnARarePathIsAnErrorInRunAndExplore) {
  const auto correct = run(false, false);
  EXPECT_EQ(correct.verdict, pgrace::Verdict::held) << correct.error;
  const auto broken = run(true, false);
  EXPECT_EQ(broken.verdict, pgrace::Verdict::error);
  EXPECT_FALSE(broken.matched);
  EXPECT_THAT(broken.error, HasSubstr("attempt(s) failed with errors that concurrency never causes (42P01 x9)"));
  EXPECT_THAT(broken.error, HasSubstr("relation \"backorders\" does not exist"));
  EXPECT_THAT(broken.error, HasSubstr("set expects_code_errors"));

  // Explored: two workers on a stock of 2 never take the broken path; on a
  // stock of 1 the second one does, in every execution.
  const auto in_stock = explore(true, false, 2);
  EXPECT_EQ(in_stock.verdict, pgrace::Verdict::held) << in_stock.error;
  const auto out_of_stock = explore(true, false, 1);
  EXPECT_EQ(out_of_stock.verdict, pgrace::Verdict::error);
  EXPECT_THAT(out_of_stock.error, HasSubstr("errors that concurrency never causes (42P01 x"));
  EXPECT_THAT(out_of_stock.error, HasSubstr("(INSERT INTO backorders DEFAULT VALUES) in execution 1: 42P01"));
}

TEST_F(CodeDefects, AScenarioThatExpectsCodeErrorsIsJudgedByItsInvariants) {
  const auto r = run(true, false, {}, true);
  EXPECT_EQ(r.verdict, pgrace::Verdict::held) << r.error;
  EXPECT_EQ(r.sqlstates.at("42P01"), 9);
}

// At statement level the wire sees the ROLLBACK that the destroyed
// pqxx::work sent: "committed" is refused, in every execution.
TEST_F(CodeDefects, AForgottenCommitIsAnErrorInExplore) {
  const auto correct = explore(false, false, 3);
  EXPECT_EQ(correct.verdict, pgrace::Verdict::held) << correct.error;
  const auto forgotten = explore(false, true, 3);
  EXPECT_EQ(forgotten.verdict, pgrace::Verdict::error);
  EXPECT_THAT(forgotten.error, HasSubstr("transaction(s) returned TxResult::committed but were rolled back: the "
                                         "first, w1 in execution 1, whose transaction ended with ROLLBACK"));
  EXPECT_THAT(forgotten.error, HasSubstr("call commit() before returning TxResult::committed"));
}

// In a stress run, without a proxy, the server's replies on each worker's
// connection (CommitWatch) show the same: every reservation rolled back;
// the first iteration of each of the 4 workers is watched (and one in
// eight after it: none of the 3 iterations here).
TEST_F(CodeDefects, AForgottenCommitIsAnErrorInRun) {
  const auto forgotten = run(false, true);
  EXPECT_EQ(forgotten.verdict, pgrace::Verdict::error);
  EXPECT_THAT(forgotten.error, HasSubstr("4 transaction(s) returned TxResult::committed but were rolled back: the "
                                         "first, worker "));
  EXPECT_THAT(forgotten.error, HasSubstr(", iteration 0, attempt 0 (repetition 1)"));
}

// Code that commits its work and then reads in a transaction it lets roll
// back, or writes without a transaction block (autocommit), committed.
class CommitThenRead : public pgrace::Scenario {
 public:
  explicit CommitThenRead(bool autocommit) : autocommit_(autocommit) {}
  std::string schema() const override { return "CREATE TABLE counter (v int NOT NULL)"; }
  void seed(pqxx::work& tx) override { tx.exec("INSERT INTO counter VALUES (0)"); }
  pgrace::TxResult transaction(pgrace::Worker& w) override {
    if (autocommit_) {
      pqxx::nontransaction(w.connection()).exec0("UPDATE counter SET v = v + 1");
    } else {
      pqxx::work tx(w.connection());
      tx.exec0("UPDATE counter SET v = v + 1");
      tx.commit();
    }
    pqxx::read_transaction read(w.connection());
    read.exec1("SELECT v FROM counter");
    return pgrace::TxResult::committed;  // `read` rolls back
  }
  std::vector<pgrace::Invariant> invariants() const override {
    return {pgrace::test::every_increment_counts("SELECT v FROM counter")};
  }

 private:
  bool autocommit_;
};

TEST_F(CodeDefects, AReadAfterTheCommitIsNoForgottenCommit) {
  pgrace::RunSettings explored;
  explored.statement_workers = 2;
  explored.max_switches = 1;
  for (bool autocommit : {false, true})
    for (const auto& settings : {pgrace::RunSettings{}, explored}) {
      CommitThenRead scenario(autocommit);
      const auto r = pgrace::run_scenario(*server_, reservations_info(), scenario, settings);
      EXPECT_EQ(r.verdict, pgrace::Verdict::held) << (autocommit ? "autocommit, " : "")
                                                  << (settings.statement_workers ? "explore: " : "run: ") << r.error;
    }
}

// In interleave mode a step whose SQL names a missing column is an error
// too, naming the step.
class BrokenStep : public pgrace::Scenario {
 public:
  std::string schema() const override { return "CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL)"; }
  void seed(pqxx::work& tx) override { tx.exec("INSERT INTO t VALUES (1, 0)"); }
  std::vector<pgrace::Session> sessions() const override {
    return {{"a", "BEGIN", {pgrace::sql_step("a1", "UPDATE t SET v = v + 1 WHERE id = 1"), pgrace::sql_step("a2", "COMMIT")}},
            {"b", "BEGIN", {pgrace::sql_step("b1", "SELECT no_such_column FROM t"), pgrace::sql_step("b2", "COMMIT")}}};
  }
  std::vector<pgrace::Invariant> invariants() const override {
    return {pgrace::no_rows("v at most 1", "SELECT id FROM t WHERE v > 1")};
  }
};

TEST_F(CodeDefects, AStepWithAnUndefinedColumnIsAnErrorInInterleaveMode) {
  BrokenStep scenario;
  const auto r =
      pgrace::run_scenario(*server_, {"test.broken_step", "", pgrace::expect_hold(), {}}, scenario, {});
  EXPECT_EQ(r.verdict, pgrace::Verdict::error);
  EXPECT_THAT(r.error, HasSubstr("errors that concurrency never causes (42703 x"));
  EXPECT_THAT(r.error, HasSubstr("step b1 (SELECT no_such_column FROM t): 42703"));
  EXPECT_THAT(r.error, Not(HasSubstr("no step succeeded")));
}

}  // namespace
