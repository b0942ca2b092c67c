// Integration tests of the wire proxy (wire/proxy.hpp) with a real
// PostgreSQL and unmodified libpqxx / libpq clients.
//
// What these tests check: everything a client does through the proxy works
// as it does directly (simple and extended queries, transactions, errors,
// COPY both ways, a 50 MB result, LISTEN/NOTIFY); each request is recorded
// under its connection's application_name with its SQL, parameters, the
// ReadyForQuery status and the SQLSTATE of its error; a request held by the
// gate has not reached the server; the faults do what they say (a request
// dropped before sending never runs; a COMMIT whose reply is dropped is
// committed although the client lost the connection; a delayed reply is
// late); the proxy's directory is private and, with its threads, gone after
// the proxy is.

#include "wire/proxy.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>
#include <string>
#include <thread>

#include "core/pqxx_compat.hpp"
#include "pgrace/connection.hpp"
#include "pgrace/dsn.hpp"
#include "pgrace/server.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using pgrace::detail::Fault;
using pgrace::detail::RequestGate;
using pgrace::detail::WireProxy;
using pgrace::detail::WireRequest;
using ::testing::HasSubstr;
using ::testing::Not;

// A gate that answers every request with `decide`'s fault (none if unset).
class FaultGate : public RequestGate {
 public:
  explicit FaultGate(std::function<Fault(const WireRequest&)> decide) : decide_(std::move(decide)) {}
  Fault before_request(const WireRequest& request) override { return decide_(request); }
  void after_request(const WireRequest&) override {}

 private:
  std::function<Fault(const WireRequest&)> decide_;
};

// The fault `kind` for requests whose SQL contains `needle`, none for the others.
FaultGate fault_for(const std::string& needle, Fault fault) {
  return FaultGate(
      [needle, fault](const WireRequest& r) { return r.sql.find(needle) != std::string::npos ? fault : Fault{}; });
}

// Holds requests whose SQL contains `needle` until release().
class HoldingGate : public RequestGate {
 public:
  explicit HoldingGate(std::string needle) : needle_(std::move(needle)) {}
  Fault before_request(const WireRequest& request) override {
    if (request.sql.find(needle_) == std::string::npos) return {};
    std::unique_lock lock(mutex_);
    held_ = true;
    changed_.notify_all();
    changed_.wait(lock, [&] { return released_; });
    return {};
  }
  void after_request(const WireRequest& request) override {
    std::lock_guard lock(mutex_);
    if (request.sql.find(needle_) != std::string::npos) finished_ = true;
  }
  bool wait_until_held(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return held_; });
  }
  void release() {
    std::lock_guard lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }
  bool finished() {
    std::lock_guard lock(mutex_);
    return finished_;
  }

 private:
  const std::string needle_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool held_ = false, released_ = false, finished_ = false;
};

class WireProxyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!server_) server_ = pgrace::Server::open(std::nullopt);
  }
  static void TearDownTestSuite() { server_.reset(); }

  // A fresh table t(id int primary key, v text).
  void SetUp() override {
    auto connection = direct();
    pqxx::nontransaction tx(*connection);
    tx.exec("DROP TABLE IF EXISTS t");
    tx.exec("CREATE TABLE t (id int PRIMARY KEY, v text)");
  }

  static std::unique_ptr<pqxx::connection> direct() { return pgrace::connect(server_->dsn()); }
  // The DSN of a connection through `proxy` named `client` (its application_name).
  static std::string through(const WireProxy& proxy, const std::string& client) {
    return proxy.proxied_dsn(server_->dsn()) + " application_name='" + client + "'";
  }
  static std::unique_ptr<pqxx::connection> connect(const WireProxy& proxy, const std::string& client) {
    return pgrace::connect(through(proxy, client));
  }
  static long count_rows(const std::string& where = "true") {
    auto connection = direct();
    pqxx::nontransaction tx(*connection);
    return tx.exec("SELECT count(*) FROM t WHERE " + where)[0][0].as<long>();
  }

  static std::unique_ptr<pgrace::Server> server_;
};
std::unique_ptr<pgrace::Server> WireProxyTest::server_;

// The last recorded request of `client` whose SQL is `sql`, or a default one.
WireRequest last_with_sql(const WireProxy& proxy, const std::string& client, const std::string& sql) {
  const auto history = proxy.history(client);
  for (auto it = history.rbegin(); it != history.rend(); ++it)
    if (it->sql == sql) return *it;
  return {};
}

// A libpq connection, finished on destruction.
struct PqConnection {
  explicit PqConnection(const std::string& dsn) : conn(PQconnectdb(dsn.c_str())) {}
  ~PqConnection() { PQfinish(conn); }
  PGconn* conn;
};

// Runs `sql` on `c`; returns its status (the result is cleared).
ExecStatusType pq_exec(PGconn* c, const char* sql) {
  PGresult* result = PQexec(c, sql);
  const ExecStatusType status = PQresultStatus(result);
  PQclear(result);
  return status;
}

// Waits until `c` has a result (or its end) ready, reading what arrives; false after `timeout`.
bool await_result(PGconn* c, std::chrono::milliseconds timeout) {
  const auto deadline = pgrace::test::Clock::now() + timeout;
  while (PQisBusy(c)) {
    if (pgrace::test::Clock::now() > deadline) return false;
    pollfd fd = {PQsocket(c), POLLIN, 0};
    poll(&fd, 1, 100);
    if (!PQconsumeInput(c)) return false;
  }
  return true;
}

std::size_t thread_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/task")) ++n;
  return n;
}

TEST_F(WireProxyTest, SimpleQueryIsRecordedWithStatusAndBackendPid) {
  WireProxy proxy(server_->dsn(), nullptr);
  auto connection = connect(proxy, "simple");
  pqxx::nontransaction tx(*connection);
  EXPECT_EQ(tx.exec("SELECT 40 + 2")[0][0].as<int>(), 42);

  const WireRequest request = last_with_sql(proxy, "simple", "SELECT 40 + 2");
  ASSERT_TRUE(request.completed) << "no completed request 'SELECT 40 + 2' recorded";
  EXPECT_EQ(request.client, "simple");
  EXPECT_EQ(request.status, 'I');
  EXPECT_EQ(request.sqlstate, "");
  EXPECT_EQ(request.backend_pid, connection->backendpid());
  EXPECT_NE(request.started, pgrace::detail::Clock::time_point{});
  EXPECT_LE(request.started, request.ended);
  EXPECT_EQ(request.fault, std::nullopt);
}

TEST_F(WireProxyTest, TransactionStatusesFollowTheTransaction) {
  WireProxy proxy(server_->dsn(), nullptr);
  auto connection = connect(proxy, "tx");
  {
    pqxx::work tx(*connection);
    tx.exec("INSERT INTO t VALUES (1, 'a')");
    tx.commit();
  }
  EXPECT_EQ(last_with_sql(proxy, "tx", "INSERT INTO t VALUES (1, 'a')").status, 'T');
  const auto history = proxy.history("tx");
  ASSERT_FALSE(history.empty());
  EXPECT_EQ(history.back().sql, "COMMIT");
  EXPECT_EQ(history.back().status, 'I');
  EXPECT_EQ(count_rows(), 1);
}

TEST_F(WireProxyTest, ErrorsAreRecordedWithSqlstateAndFailedStatus) {
  WireProxy proxy(server_->dsn(), nullptr);
  auto connection = connect(proxy, "errors");
  {
    pqxx::work tx(*connection);
    EXPECT_THROW(tx.exec("SELECT 1 / 0"), pqxx::sql_error);
  }
  const WireRequest division = last_with_sql(proxy, "errors", "SELECT 1 / 0");
  EXPECT_TRUE(division.completed);
  EXPECT_EQ(division.sqlstate, "22012");
  EXPECT_EQ(division.status, 'E') << "the error left the transaction failed";

  pqxx::nontransaction tx(*connection);
  tx.exec("INSERT INTO t VALUES (1, 'a')");
  EXPECT_THROW(tx.exec("INSERT INTO t VALUES (1, 'b')"), pqxx::sql_error);
  const WireRequest duplicate = last_with_sql(proxy, "errors", "INSERT INTO t VALUES (1, 'b')");
  EXPECT_EQ(duplicate.sqlstate, "23505");
  EXPECT_EQ(duplicate.status, 'I');
}

TEST_F(WireProxyTest, ExtendedProtocolRecordsStatementTextAndParameters) {
  WireProxy proxy(server_->dsn(), nullptr);
  auto connection = connect(proxy, "extended");
  connection->prepare("twice", "SELECT $1::int * 2");
  {
    pqxx::nontransaction tx(*connection);
    EXPECT_EQ(pgrace::detail::exec_params(tx, "SELECT $1::int + $2::int", {"1", "2"})[0][0].as<int>(), 3);
    EXPECT_EQ(tx.exec_prepared("twice", 21)[0][0].as<int>(), 42);
  }
  const WireRequest params = last_with_sql(proxy, "extended", "SELECT $1::int + $2::int");
  EXPECT_TRUE(params.completed);
  EXPECT_THAT(params.params, ::testing::ElementsAre("1", "2"));

  const WireRequest prepared = last_with_sql(proxy, "extended", "SELECT $1::int * 2");
  EXPECT_TRUE(prepared.completed);
  EXPECT_THAT(prepared.params, ::testing::ElementsAre("21")) << "the execution names its statement's text";
}

TEST_F(WireProxyTest, NullAndBinaryParametersAreRecorded) {
  WireProxy proxy(server_->dsn(), nullptr);
  PqConnection pq(through(proxy, "binary"));
  ASSERT_EQ(PQstatus(pq.conn), CONNECTION_OK) << PQerrorMessage(pq.conn);
  const char bytes[] = {'\x01', '\x00', '\xff'};
  const char* values[] = {nullptr, bytes};
  const int lengths[] = {0, 3};
  const int formats[] = {0, 1};
  PGresult* result =
      PQexecParams(pq.conn, "SELECT $1::text IS NULL, length($2::bytea)", 2, nullptr, values, lengths, formats, 0);
  ASSERT_EQ(PQresultStatus(result), PGRES_TUPLES_OK) << PQerrorMessage(pq.conn);
  EXPECT_STREQ(PQgetvalue(result, 0, 0), "t");
  EXPECT_STREQ(PQgetvalue(result, 0, 1), "3");
  PQclear(result);

  const WireRequest request = last_with_sql(proxy, "binary", "SELECT $1::text IS NULL, length($2::bytea)");
  ASSERT_EQ(request.params.size(), 2u);
  EXPECT_EQ(request.params[0], std::nullopt);
  EXPECT_EQ(request.params[1], "\\x0100ff");
}

TEST_F(WireProxyTest, CopyPassesThroughBothWays) {
  WireProxy proxy(server_->dsn(), nullptr);
  PqConnection pq(through(proxy, "copy"));
  ASSERT_EQ(PQstatus(pq.conn), CONNECTION_OK) << PQerrorMessage(pq.conn);
  ASSERT_EQ(pq_exec(pq.conn, "COPY t FROM STDIN"), PGRES_COPY_IN) << PQerrorMessage(pq.conn);
  const std::string rows = "1\tone\n2\ttwo\n3\tthree\n";
  ASSERT_EQ(PQputCopyData(pq.conn, rows.data(), static_cast<int>(rows.size())), 1);
  ASSERT_EQ(PQputCopyEnd(pq.conn, nullptr), 1);
  PGresult* result = PQgetResult(pq.conn);
  EXPECT_EQ(PQresultStatus(result), PGRES_COMMAND_OK) << PQerrorMessage(pq.conn);
  PQclear(result);
  while ((result = PQgetResult(pq.conn))) PQclear(result);
  EXPECT_EQ(count_rows(), 3);

  ASSERT_EQ(pq_exec(pq.conn, "COPY (SELECT * FROM t ORDER BY id) TO STDOUT"), PGRES_COPY_OUT);
  std::string copied;
  char* line = nullptr;
  for (int n; (n = PQgetCopyData(pq.conn, &line, 0)) > 0; PQfreemem(line)) copied.append(line, n);
  while ((result = PQgetResult(pq.conn))) PQclear(result);
  EXPECT_EQ(copied, rows);

  EXPECT_EQ(last_with_sql(proxy, "copy", "COPY t FROM STDIN").status, 'I');
  EXPECT_TRUE(last_with_sql(proxy, "copy", "COPY (SELECT * FROM t ORDER BY id) TO STDOUT").completed);
  EXPECT_EQ(pq_exec(pq.conn, "SELECT 1"), PGRES_TUPLES_OK) << "the connection works after COPY";
}

TEST_F(WireProxyTest, LargeCopyInArrivesWhole) {
  WireProxy proxy(server_->dsn(), nullptr);
  PqConnection pq(through(proxy, "copy-large"));
  ASSERT_EQ(PQstatus(pq.conn), CONNECTION_OK) << PQerrorMessage(pq.conn);
  ASSERT_EQ(pq_exec(pq.conn, "COPY t FROM STDIN"), PGRES_COPY_IN) << PQerrorMessage(pq.conn);
  const std::string padding(200, 'p');
  for (int id = 1; id <= 100000; ++id) {
    const std::string row = std::to_string(id) + "\t" + padding + "\n";
    ASSERT_EQ(PQputCopyData(pq.conn, row.data(), static_cast<int>(row.size())), 1);
  }
  ASSERT_EQ(PQputCopyEnd(pq.conn, nullptr), 1);
  PGresult* result = PQgetResult(pq.conn);
  EXPECT_EQ(PQresultStatus(result), PGRES_COMMAND_OK) << PQerrorMessage(pq.conn);
  PQclear(result);
  while ((result = PQgetResult(pq.conn))) PQclear(result);
  EXPECT_EQ(count_rows("length(v) = 200"), 100000);
}

TEST_F(WireProxyTest, FiftyMegabyteResultArrivesWhole) {
  WireProxy proxy(server_->dsn(), nullptr);
  auto connection = connect(proxy, "large");
  pqxx::nontransaction tx(*connection);
  const auto result = tx.exec("SELECT g, repeat(md5(g::text), 32) FROM generate_series(1, 50000) g");
  ASSERT_EQ(result.size(), 50000u);
  std::size_t bytes = 0;
  for (const auto& row : result) bytes += row[1].size();
  EXPECT_EQ(bytes, 50000u * 1024);
  EXPECT_EQ(result[49999][0].as<int>(), 50000);
  auto check = direct();
  pqxx::nontransaction direct_tx(*check);
  EXPECT_EQ(result[12345][1].as<std::string>(),
            direct_tx.exec("SELECT repeat(md5('12346'), 32)")[0][0].as<std::string>());
}

// A client that reads late keeps the proxy waiting for its socket while the
// server's reply goes on arriving (the proxy reads it meanwhile, so that the
// server is not blocked): all of it, ReadyForQuery included, must still
// reach the client.
TEST_F(WireProxyTest, SlowReaderGetsTheWholeReply) {
  WireProxy proxy(server_->dsn(), nullptr);
  PqConnection pq(through(proxy, "slow"));
  ASSERT_EQ(PQstatus(pq.conn), CONNECTION_OK) << PQerrorMessage(pq.conn);
  ASSERT_EQ(PQsendQuery(pq.conn, "SELECT repeat('x', 1000) FROM generate_series(1, 3000)"), 1);
  std::this_thread::sleep_for(300ms);  // the reply (3 MB) fills the sockets meanwhile
  ASSERT_TRUE(await_result(pq.conn, 10s)) << "the rows never arrived";
  PGresult* rows = PQgetResult(pq.conn);
  EXPECT_EQ(PQntuples(rows), 3000);
  PQclear(rows);
  ASSERT_TRUE(await_result(pq.conn, 10s)) << "the reply's ReadyForQuery never arrived";
  EXPECT_EQ(PQgetResult(pq.conn), nullptr);
}

TEST_F(WireProxyTest, NotificationsPassThrough) {
  WireProxy proxy(server_->dsn(), nullptr);
  PqConnection listener(through(proxy, "listener"));
  ASSERT_EQ(PQstatus(listener.conn), CONNECTION_OK) << PQerrorMessage(listener.conn);
  ASSERT_EQ(pq_exec(listener.conn, "LISTEN wire_proxy_test"), PGRES_COMMAND_OK);
  {
    auto notifier = direct();
    pqxx::nontransaction tx(*notifier);
    tx.exec("NOTIFY wire_proxy_test, 'hello'");
  }
  PGnotify* notify = nullptr;
  const auto deadline = pgrace::test::Clock::now() + 5s;
  while (!notify && pgrace::test::Clock::now() < deadline) {
    pollfd fd = {PQsocket(listener.conn), POLLIN, 0};
    poll(&fd, 1, 100);
    PQconsumeInput(listener.conn);
    notify = PQnotifies(listener.conn);
  }
  ASSERT_NE(notify, nullptr) << "no notification arrived through the proxy";
  EXPECT_STREQ(notify->relname, "wire_proxy_test");
  EXPECT_STREQ(notify->extra, "hello");
  PQfreemem(notify);
}

TEST_F(WireProxyTest, HistoryIsKeptPerApplicationName) {
  WireProxy proxy(server_->dsn(), nullptr);
  auto alpha = connect(proxy, "alpha");
  auto beta = connect(proxy, "beta");
  pqxx::nontransaction(*alpha).exec("SELECT 'from alpha'");
  pqxx::nontransaction(*beta).exec("SELECT 'from beta'");

  const auto alpha_history = proxy.history("alpha");
  ASSERT_FALSE(alpha_history.empty());
  for (const auto& request : alpha_history) {
    EXPECT_THAT(request.sql, Not(HasSubstr("beta")));
    EXPECT_EQ(request.backend_pid, alpha->backendpid());
  }
  EXPECT_TRUE(last_with_sql(proxy, "beta", "SELECT 'from beta'").completed);
  EXPECT_EQ(last_with_sql(proxy, "beta", "SELECT 'from beta'").backend_pid, beta->backendpid());

  pqxx::nontransaction(*alpha).exec("SET application_name = 'gamma'");
  pqxx::nontransaction(*alpha).exec("SELECT 'as gamma'");
  EXPECT_TRUE(last_with_sql(proxy, "gamma", "SELECT 'as gamma'").completed)
      << "the application_name the server reports names the client";

  proxy.clear_history();
  EXPECT_TRUE(proxy.history("alpha").empty());
  EXPECT_TRUE(proxy.history("beta").empty());
}

TEST_F(WireProxyTest, RequestHeldByTheGateHasNotReachedTheServer) {
  HoldingGate gate("UPDATE t SET v = 'held'");
  WireProxy proxy(server_->dsn(), &gate);
  {
    auto connection = direct();
    pqxx::nontransaction(*connection).exec("INSERT INTO t VALUES (1, 'before')");
  }
  auto worker_connection = connect(proxy, "held");
  const int pid = worker_connection->backendpid();
  std::thread worker([&] { pqxx::nontransaction(*worker_connection).exec("UPDATE t SET v = 'held' WHERE id = 1"); });
  const bool held = gate.wait_until_held(10s);
  std::string state, query;
  if (held) {
    auto observer = direct();
    pqxx::nontransaction tx(*observer);
    const auto row = tx.exec("SELECT state, query FROM pg_stat_activity WHERE pid = " + std::to_string(pid))[0];
    state = row[0].as<std::string>();
    query = row[1].as<std::string>();
  }
  const long updated_while_held = count_rows("v = 'held'");
  gate.release();
  worker.join();

  ASSERT_TRUE(held) << "the gate never saw the UPDATE";
  EXPECT_EQ(state, "idle");
  EXPECT_THAT(query, Not(HasSubstr("held")));
  EXPECT_EQ(updated_while_held, 0);
  EXPECT_EQ(count_rows("v = 'held'"), 1) << "the released request ran";
  EXPECT_TRUE(gate.finished());
}

TEST_F(WireProxyTest, DropBeforeSendNeverRunsTheRequest) {
  FaultGate gate = fault_for("INSERT INTO t", {pgrace::FaultKind::drop_before_send, {}});
  WireProxy proxy(server_->dsn(), &gate);
  auto connection = connect(proxy, "dropped");
  EXPECT_THROW(pqxx::nontransaction(*connection).exec("INSERT INTO t VALUES (1, 'lost')"), pqxx::broken_connection);
  EXPECT_EQ(count_rows(), 0);
  const WireRequest request = last_with_sql(proxy, "dropped", "INSERT INTO t VALUES (1, 'lost')");
  EXPECT_EQ(request.fault, pgrace::FaultKind::drop_before_send);
  EXPECT_FALSE(request.completed);
  EXPECT_EQ(request.started, pgrace::detail::Clock::time_point{}) << "nothing of it was sent";
}

TEST_F(WireProxyTest, DroppedReplyToCommitLeavesTheTransactionCommitted) {
  FaultGate gate = fault_for("COMMIT", {pgrace::FaultKind::drop_reply, {}});
  WireProxy proxy(server_->dsn(), &gate);
  auto connection = connect(proxy, "ambiguous");
  pqxx::work tx(*connection);
  tx.exec("INSERT INTO t VALUES (1, 'committed?')");
  EXPECT_THROW(tx.commit(), pqxx::failure) << "the client must not learn the outcome";
  EXPECT_EQ(count_rows(), 1) << "the server committed";
  const WireRequest commit = last_with_sql(proxy, "ambiguous", "COMMIT");
  EXPECT_EQ(commit.fault, pgrace::FaultKind::drop_reply);
  EXPECT_TRUE(commit.completed);
  EXPECT_EQ(commit.status, 'I');
}

TEST_F(WireProxyTest, DelayedReplyArrivesLate) {
  FaultGate gate = fault_for("'slow'", {pgrace::FaultKind::delay_reply, 200ms});
  WireProxy proxy(server_->dsn(), &gate);
  auto connection = connect(proxy, "delayed");
  pqxx::nontransaction tx(*connection);
  const auto start = pgrace::test::Clock::now();
  EXPECT_EQ(tx.exec("SELECT 'slow'")[0][0].as<std::string>(), "slow");
  EXPECT_GE(pgrace::test::Clock::now() - start, 200ms);
  const auto fast_start = pgrace::test::Clock::now();
  tx.exec("SELECT 'fast'");
  EXPECT_LT(pgrace::test::Clock::now() - fast_start, 200ms);
  const WireRequest slow = last_with_sql(proxy, "delayed", "SELECT 'slow'");
  EXPECT_GE(slow.ended - slow.started, 200ms);
}

TEST_F(WireProxyTest, ServerEndingMidRequestIsRecordedAsNotCompleted) {
  WireProxy proxy(server_->dsn(), nullptr);
  auto connection = connect(proxy, "terminated");
  const int pid = connection->backendpid();
  std::thread killer([&] {
    auto observer = direct();
    pgrace::test::eventually([&] {
      pqxx::nontransaction tx(*observer);
      return tx.exec("SELECT 1 FROM pg_stat_activity WHERE pid = " + std::to_string(pid) +
                     " AND query LIKE 'SELECT pg_sleep%' AND state = 'active'")
                 .size() == 1;
    });
    pqxx::nontransaction(*observer).exec("SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
  });
  EXPECT_ANY_THROW(pqxx::nontransaction(*connection).exec("SELECT pg_sleep(30)"));
  killer.join();
  const WireRequest request = last_with_sql(proxy, "terminated", "SELECT pg_sleep(30)");
  EXPECT_FALSE(request.completed);
  EXPECT_EQ(request.sqlstate, "57P01");
  EXPECT_EQ(request.status, 0);
}

TEST_F(WireProxyTest, UnreachableServerReachesTheClientAsAnError) {
  pgrace::test::TempDir nowhere;
  WireProxy proxy("host=" + nowhere.path().string() + " port=5999 user=pgrace dbname=postgres", nullptr);
  try {
    connect(proxy, "nowhere");
    FAIL() << "connected to a server that does not exist";
  } catch (const std::exception& e) {
    EXPECT_THAT(e.what(), HasSubstr("pgrace wire proxy"));
  }
}

TEST_F(WireProxyTest, DirectoryIsPrivateAndGoesWithTheProxyAndItsThreads) {
  // ThreadSanitizer's runtime starts a thread of its own at the process's
  // first thread creation: let that happen before counting.
  std::thread([] {}).join();
  const std::size_t threads_before = thread_count();
  fs::path directory;
  std::unique_ptr<pqxx::connection> open_connection;
  {
    WireProxy proxy(server_->dsn(), nullptr);
    directory = proxy.directory();
    struct stat st {};
    ASSERT_EQ(stat(directory.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    EXPECT_EQ(st.st_uid, geteuid());
    open_connection = connect(proxy, "open");
    auto closed = connect(proxy, "closed");
    pqxx::nontransaction(*open_connection).exec("SELECT 1");
    EXPECT_GT(thread_count(), threads_before);
  }  // destroyed with a connection still open
  EXPECT_FALSE(fs::exists(directory));
  EXPECT_EQ(thread_count(), threads_before);
  EXPECT_THROW(pqxx::nontransaction(*open_connection).exec("SELECT 1"), pqxx::broken_connection);
}

TEST_F(WireProxyTest, ProxiedDsnPointsAtTheProxyAndKeepsTheRest) {
  WireProxy proxy(server_->dsn(), nullptr);
  const std::string dsn = proxy.proxied_dsn(
      "postgresql://bob:s3cret@db.example:6543/app?hostaddr=10.0.0.1&sslmode=require&connect_timeout=7");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "host"), proxy.directory().string());
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "port"), "5432");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "sslmode"), "disable");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "gssencmode"), "disable");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "hostaddr"), std::nullopt);
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "dbname"), "app");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "user"), "bob");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "password"), "s3cret") << "the client authenticates through the proxy";
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "connect_timeout"), "7");
  EXPECT_THAT(pgrace::redact_dsn(dsn), Not(HasSubstr("s3cret")));
}

}  // namespace
