// Integration tests of outcome classification (outcome.hpp) with the errors a
// real PostgreSQL sends, as libpqxx throws them: 6.4 and 7 throw them as
// different types (in 7 serialization_failure and deadlock_detected are
// sql_errors carrying a SQLSTATE, in 6.4 they are neither).
//
// What these tests check: a REPEATABLE READ transaction that updates a row
// another session changed and committed after its snapshot ends in
// serialization_failure / 40001; two sessions that each hold a row lock the
// other waits for end with exactly one of them in deadlock / 40P01 while the
// other commits.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <exception>
#include <pqxx/nontransaction>
#include <pqxx/transaction>
#include <string>
#include <thread>

#include "pgrace/connection.hpp"
#include "pgrace/outcome.hpp"
#include "pgrace/result.hpp"
#include "pgrace/runner.hpp"
#include "pgrace/scenario.hpp"
#include "pgrace/server.hpp"
#include "test_support.hpp"

namespace {

using pgrace::OutcomeClass;
using ::testing::HasSubstr;

class OutcomeRealServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!server_) server_ = pgrace::Server::open(std::nullopt);
  }
  static void TearDownTestSuite() { server_.reset(); }

  // A fresh table t(id, v) = (1, 0), (2, 0).
  void SetUp() override {
    auto connection = session();
    pqxx::nontransaction tx(*connection);
    tx.exec("DROP TABLE IF EXISTS t");
    tx.exec("CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL)");
    tx.exec("INSERT INTO t VALUES (1, 0), (2, 0)");
  }

  // A connection whose statements give up after 30 s, so a test cannot hang.
  static std::unique_ptr<pqxx::connection> session() {
    auto connection = pgrace::connect(server_->dsn());
    pqxx::nontransaction tx(*connection);
    tx.exec("SET statement_timeout = '30s'");
    return connection;
  }

  static std::unique_ptr<pgrace::Server> server_;
};
std::unique_ptr<pgrace::Server> OutcomeRealServer::server_;

// Runs `f`; returns what it threw (nullptr if nothing).
template <typename F>
std::exception_ptr error_of(F&& f) {
  try {
    f();
  } catch (...) {
    return std::current_exception();
  }
  return nullptr;
}

TEST_F(OutcomeRealServer, ConcurrentUpdateAtRepeatableReadIsSerializationFailure) {
  auto first = session();
  auto second = session();
  pqxx::work tx(*first);
  tx.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
  tx.exec("SELECT v FROM t WHERE id = 1");  // takes the snapshot
  pqxx::nontransaction concurrent(*second);
  concurrent.exec("UPDATE t SET v = v + 1 WHERE id = 1");  // commits at once

  const auto error = error_of([&] { tx.exec("UPDATE t SET v = v + 1 WHERE id = 1"); });
  ASSERT_TRUE(error) << "the update of a row changed after the snapshot succeeded";
  const auto outcome = pgrace::classify(error);
  EXPECT_EQ(outcome.kind, OutcomeClass::serialization_failure) << outcome.message;
  EXPECT_EQ(outcome.sqlstate, "40001");
  EXPECT_THAT(outcome.message, HasSubstr("could not serialize access"));
}

TEST_F(OutcomeRealServer, CrossedRowLocksAreADeadlock) {
  auto first = session();
  auto second = session();
  auto observer = session();
  pqxx::work a(*first);
  pqxx::work b(*second);
  a.exec("UPDATE t SET v = v + 1 WHERE id = 1");
  b.exec("UPDATE t SET v = v + 1 WHERE id = 2");

  std::exception_ptr a_error;
  std::thread a_waits([&] {
    a_error = error_of([&] {
      a.exec("UPDATE t SET v = v + 1 WHERE id = 2");
      a.commit();
    });
  });
  const std::string a_pid = std::to_string(first->backendpid());
  const bool a_blocked = pgrace::test::eventually([&] {
    pqxx::nontransaction check(*observer);
    return check.exec("SELECT 1 FROM pg_stat_activity WHERE pid = " + a_pid + " AND wait_event_type = 'Lock'").size() ==
           1;
  });
  // Closes the cycle once a waits, so that a deadlock is certain.
  const auto b_error = error_of([&] {
    b.exec("UPDATE t SET v = v + 1 WHERE id = 1");
    b.commit();
  });
  a_waits.join();
  ASSERT_TRUE(a_blocked) << "session a never waited for b's row lock";

  ASSERT_NE(!a_error, !b_error) << "expected exactly one deadlock victim";
  const auto outcome = pgrace::classify(a_error ? a_error : b_error);
  EXPECT_EQ(outcome.kind, OutcomeClass::deadlock) << outcome.message;
  EXPECT_EQ(outcome.sqlstate, "40P01");
  EXPECT_THAT(outcome.message, HasSubstr("deadlock detected"));
}

}  // namespace

namespace {

// A transaction that binds two parameters to a statement with one: the
// server answers 08P01 and the connection stays usable.
class WrongParameterCount : public pgrace::Scenario {
 public:
  std::string schema() const override { return "CREATE TABLE t (id int PRIMARY KEY)"; }
  void seed(pqxx::work&) override {}
  pgrace::TxResult transaction(pgrace::Worker& w) override {
    pqxx::work tx(w.connection());
    tx.exec_params("SELECT $1::int", 1, 2);
    tx.commit();
    return pgrace::TxResult::committed;
  }
  std::vector<pgrace::Invariant> invariants() const override { return {pgrace::equals("nothing", "SELECT 1", "1")}; }
};

TEST_F(OutcomeRealServer, AProtocolViolationOnALiveConnectionIsTheScenariosSqlErrorNotALostConnection) {
  WrongParameterCount scenario;
  pgrace::RunSettings settings;
  settings.threads = 2;
  settings.iterations = 3;
  const pgrace::ScenarioInfo info{"test.wrong_parameter_count", "", pgrace::expect_hold(), pgrace::Knobs{}};
  const auto r = pgrace::run_scenario(*server_, info, scenario, settings);  // must not throw (exit 3)
  EXPECT_EQ(r.verdict, pgrace::Verdict::error);
  EXPECT_THAT(r.error, HasSubstr("no transaction committed"));
  EXPECT_EQ(r.outcomes.at(OutcomeClass::other_sql_error), 6);
}

}  // namespace
