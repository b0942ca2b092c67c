// The contract of the bounded pool offered to stress scenarios
// (pgrace/pool.hpp, harness/src/stress/lease_pool.hpp), on real connections to an
// ephemeral PostgreSQL.
//
// The invariant: a pool of N lends each of its N connections to at most one
// holder at a time; a connection comes back exactly once, however often its
// lease is released; an acquire with nothing free fails with PoolTimeout
// after about its timeout, or succeeds as soon as another thread releases;
// after reclaim() every connection is free and out of any transaction, and a
// lease from before it can neither give a connection back nor reach one —
// not even after the pool is gone. The statistics count what happened.

#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <pqxx/nontransaction>
#include <pqxx/transaction>
#include <set>
#include <thread>

#include "pgrace/connection.hpp"
#include "pgrace/outcome.hpp"
#include "pgrace/server.hpp"
#include "stress/lease_pool.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using pgrace::Lease;
using pgrace::PoolTimeout;
using pgrace::detail::LeasePool;

class LeasePoolTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!server_) server_ = pgrace::Server::open(std::nullopt);
  }
  static void TearDownTestSuite() { server_.reset(); }

  static std::shared_ptr<LeasePool> make_pool(int size, std::chrono::milliseconds timeout = 50ms,
                                              std::vector<int>* opened = nullptr) {
    return std::make_shared<LeasePool>(size, timeout, [opened](int slot) {
      if (opened) opened->push_back(slot);
      return pgrace::connect(server_->dsn());
    });
  }

  static std::unique_ptr<pqxx::connection> control() { return pgrace::connect(server_->dsn()); }

  static bool backend_exists(int pid) { return !backend_state(pid).empty(); }

  static int backend_pid(Lease& lease) { return lease->backendpid(); }

  // The state pg_stat_activity shows for backend `pid` ("idle", "idle in transaction", ...).
  static std::string backend_state(int pid) {
    auto control = pgrace::connect(server_->dsn());
    pqxx::nontransaction tx(*control);
    const auto rows = tx.exec("SELECT state FROM pg_stat_activity WHERE pid = " + std::to_string(pid));
    return rows.empty() ? "" : rows[0][0].c_str();
  }

  static std::unique_ptr<pgrace::Server> server_;
};

std::unique_ptr<pgrace::Server> LeasePoolTest::server_;

TEST_F(LeasePoolTest, LendsEachConnectionToOneHolderAtATime) {
  auto pool = make_pool(2);
  Lease a = pool->acquire(1s);
  Lease b = pool->acquire(1s);
  EXPECT_TRUE(a.held());
  EXPECT_TRUE(b.held());
  EXPECT_NE(backend_pid(a), backend_pid(b));
  EXPECT_THROW(pool->acquire(20ms), PoolTimeout);
  const int a_pid = backend_pid(a);
  a.release();
  EXPECT_FALSE(a.held());
  Lease c = pool->acquire(1s);
  EXPECT_EQ(backend_pid(c), a_pid) << "the released connection is the one lent next";
  pqxx::nontransaction tx(*c);
  EXPECT_EQ(tx.exec("SELECT 1")[0][0].as<int>(), 1);
}

TEST_F(LeasePoolTest, ReleaseIsIdempotentAndMovesCarryTheLease) {
  auto pool = make_pool(1);
  Lease a = pool->acquire(1s);
  a.release();
  a.release();  // must not give the connection back twice
  Lease b = pool->acquire(1s);
  EXPECT_THROW(pool->acquire(20ms), PoolTimeout) << "a second release freed the connection twice";

  Lease moved = std::move(b);
  EXPECT_FALSE(b.held());  // NOLINT(bugprone-use-after-move): the contract of a moved-from lease
  EXPECT_THROW(b.connection(), std::logic_error);
  EXPECT_TRUE(moved.held());
  EXPECT_THROW(pool->acquire(20ms), PoolTimeout) << "the move released the connection";
  moved = Lease();  // assigning releases what it held
  EXPECT_NO_THROW(pool->acquire(1s));
}

TEST_F(LeasePoolTest, AcquireTimesOutAfterAboutItsTimeoutWithPoolTimeout) {
  auto pool = make_pool(1, 80ms);
  Lease held = pool->acquire();
  const auto started = Clock::now();
  try {
    pool->acquire();  // the configured 80 ms
    FAIL() << "acquire from an empty pool succeeded";
  } catch (const PoolTimeout& e) {
    const auto waited = Clock::now() - started;
    EXPECT_GE(waited, 80ms);
    EXPECT_LT(waited, 580ms);
    EXPECT_NE(std::string(e.what()).find("pool's 1 connection(s)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("within 80 ms"), std::string::npos) << e.what();
  }
  const pgrace::Outcome o = pgrace::classify(std::make_exception_ptr(PoolTimeout("pool timeout: test")));
  EXPECT_EQ(o.kind, pgrace::OutcomeClass::pool_timeout);
  EXPECT_EQ(o.sqlstate, "");
  EXPECT_EQ(o.message, "pool timeout: test");
  EXPECT_STREQ(pgrace::to_string(o.kind), "pool_timeout");
  EXPECT_FALSE(pgrace::is_retryable(o.kind));
}

TEST_F(LeasePoolTest, AWaiterGetsTheConnectionAnotherThreadReleases) {
  auto pool = make_pool(1);
  Lease held = pool->acquire(1s);
  const int pid = backend_pid(held);
  auto waiter = std::async(std::launch::async, [&pool] {
    const auto started = Clock::now();
    Lease lease = pool->acquire(5s);
    return std::make_pair(lease->backendpid(), Clock::now() - started);
  });
  std::this_thread::sleep_for(100ms);
  held.release();
  const auto [got_pid, waited] = waiter.get();
  EXPECT_EQ(got_pid, pid);
  EXPECT_GE(waited, 90ms);
  EXPECT_LT(waited, 2s) << "the waiter was not woken by the release";
}

TEST_F(LeasePoolTest, ReclaimFreesEveryConnectionAndMakesOldLeasesInert) {
  auto pool = make_pool(1);
  Lease leaked = pool->acquire(1s);
  const int pid = backend_pid(leaked);
  {
    pqxx::nontransaction tx(*leaked);
    tx.exec("BEGIN");  // left open, as a careless holder would
  }
  EXPECT_EQ(backend_state(pid), "idle in transaction");
  EXPECT_EQ(pool->reclaim(*control()), 1);
  EXPECT_EQ(backend_state(pid), "idle") << "reclaim left the connection in a transaction";

  EXPECT_TRUE(leaked.held()) << "its holder never released it";
  EXPECT_THROW(leaked.connection(), std::logic_error);
  Lease fresh = pool->acquire(1s);
  EXPECT_EQ(backend_pid(fresh), pid);
  leaked.release();  // stale: must not free `fresh`'s connection
  EXPECT_THROW(pool->acquire(20ms), PoolTimeout) << "a stale lease gave back a connection it no longer held";
  EXPECT_EQ(pool->stats().leaked, 1);
}

TEST_F(LeasePoolTest, ALeaseThatOutlivesItsPoolIsHarmless) {
  Lease survivor;
  {
    auto pool = make_pool(1);
    survivor = pool->acquire(1s);
  }
  EXPECT_TRUE(survivor.held());
  EXPECT_THROW(survivor.connection(), std::logic_error);
  survivor.release();
  EXPECT_FALSE(survivor.held());
}

TEST_F(LeasePoolTest, StatisticsCountAcquiresTimeoutsPeakLeakedAndWaits) {
  auto pool = make_pool(3, 30ms);
  {
    Lease a = pool->acquire();
    Lease b = pool->acquire();
  }
  Lease c = pool->acquire();
  Lease d = pool->acquire();
  Lease e = pool->acquire();
  EXPECT_THROW(pool->acquire(), PoolTimeout);
  e.release();
  EXPECT_EQ(pool->reclaim(*control()), 2);
  EXPECT_EQ(pool->reclaim(*control()), 0);
  const pgrace::PoolStats s = pool->stats();
  EXPECT_EQ(s.size, 3);
  EXPECT_EQ(s.acquire_timeout_ms, 30);
  EXPECT_EQ(s.acquires, 6);
  EXPECT_EQ(s.timeouts, 1);
  EXPECT_EQ(s.peak_leased, 3);
  EXPECT_EQ(s.leaked, 2) << "the most leases held at one reclaim";
  EXPECT_FALSE(s.other_timeouts) << "every acquire used the configured timeout";
  const auto waits = pool->waits().values();
  ASSERT_EQ(waits.size(), 6u);
  int long_waits = 0;
  for (double w : waits) long_waits += w >= 30;
  EXPECT_EQ(long_waits, 1) << "only the timed-out acquire waited its timeout";
}

// A lease leaked with a pqxx transaction object still open on its
// connection (a request context kept in a map): reclaim() cannot start a
// statement there, so it terminates the backend (its locks go with it, or
// the next reset would wait for them), keeps the connection object for the
// leaked transaction to be destroyed later, and opens a new connection.
TEST_F(LeasePoolTest, ReclaimReplacesAConnectionALeakedTransactionObjectStillHolds) {
  auto admin = control();
  {
    pqxx::nontransaction tx(*admin);
    tx.exec("DROP TABLE IF EXISTS leased_lock; CREATE TABLE leased_lock (x int)");
  }
  std::vector<int> opened;
  auto pool = make_pool(2, 50ms, &opened);
  Lease leaked = pool->acquire(1s);
  const int pid = backend_pid(leaked);
  auto work = std::make_unique<pqxx::work>(*leaked);
  work->exec("LOCK TABLE leased_lock IN ACCESS EXCLUSIVE MODE");

  EXPECT_EQ(pool->reclaim(*admin), 1);
  EXPECT_FALSE(backend_exists(pid)) << "the leaked transaction's backend still runs";
  EXPECT_EQ(opened, (std::vector<int>{0, 1, 0})) << "slot 0 was not opened anew";
  {
    pqxx::nontransaction tx(*admin);
    tx.exec("SET lock_timeout = '2s'");
    EXPECT_NO_THROW(tx.exec("TRUNCATE leased_lock")) << "the leaked transaction's lock outlived reclaim()";
  }
  Lease a = pool->acquire(1s);
  Lease b = pool->acquire(1s);
  EXPECT_NE(backend_pid(a), pid);
  EXPECT_NE(backend_pid(b), pid);
  EXPECT_EQ(pqxx::nontransaction(*a).exec("SELECT 1")[0][0].as<int>(), 1);
  work.reset();  // the leaked transaction, destroyed at last: its connection object is still alive
  EXPECT_EQ(pool->reclaim(*admin), 2);
  EXPECT_EQ(opened.size(), 3u) << "a connection with no transaction object was replaced";
}

TEST_F(LeasePoolTest, ANegativeTimeoutIsRejectedNamingIt) {
  auto pool = make_pool(1);
  try {
    pool->acquire(-5ms);
    FAIL() << "acquire(-5 ms) succeeded";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("-5 ms"), std::string::npos) << e.what();
  }
  EXPECT_EQ(pool->stats().acquires, 0);
}

TEST_F(LeasePoolTest, CloseWakesEveryWaiterAtOnceWithPoolTimeout) {
  auto pool = make_pool(1);
  Lease held = pool->acquire(1s);
  std::vector<std::future<Clock::duration>> waiters;
  for (int i = 0; i < 2; ++i)
    waiters.push_back(std::async(std::launch::async, [&pool] {
      const auto started = Clock::now();
      EXPECT_THROW(pool->acquire(60s), PoolTimeout);
      return Clock::now() - started;
    }));
  std::this_thread::sleep_for(50ms);
  pool->close();
  for (auto& w : waiters) EXPECT_LT(w.get(), 5s) << "a waiter was not woken by close()";
  EXPECT_THROW(pool->acquire(60s), PoolTimeout) << "an acquire after close() waited";
}

TEST_F(LeasePoolTest, AnotherTimeoutIsNotedAndWaitsStayBounded) {
  auto pool = make_pool(1, 30ms);
  for (int i = 0; i < 25'000; ++i) pool->acquire();
  EXPECT_FALSE(pool->stats().other_timeouts);
  pool->acquire(1s);
  EXPECT_TRUE(pool->stats().other_timeouts);
  const auto waits = pool->waits();
  EXPECT_EQ(pool->stats().acquires, 25'001);
  EXPECT_EQ(waits.seen(), 25'001u);
  EXPECT_EQ(waits.values().size(), 10'000u) << "the waits grow with the run";
  EXPECT_GE(waits.max(), *std::max_element(waits.values().begin(), waits.values().end()));
}

TEST_F(LeasePoolTest, BrokenAndLeasedConnectionsNameTheirSlotAndHolder) {
  auto pool = make_pool(2);
  Lease a = pool->acquire_for(3, 1s);
  const int pid = backend_pid(a);
  auto leased = pool->leased_connections();
  ASSERT_EQ(leased.size(), 1u);
  EXPECT_EQ(leased[0].slot, 0);
  EXPECT_EQ(leased[0].holder, 3);
  EXPECT_EQ(leased[0].backend_pid, pid);
  EXPECT_TRUE(pool->broken_connections().empty());
  auto admin = control();
  pqxx::nontransaction(*admin).exec("SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
  ASSERT_TRUE(pgrace::test::eventually([&] {
    return pqxx::nontransaction(*admin)
        .exec("SELECT 1 FROM pg_stat_activity WHERE pid = " + std::to_string(pid))
        .empty();
  })) << "backend "
      << pid << " outlived pg_terminate_backend";
  EXPECT_ANY_THROW(pqxx::nontransaction(*a).exec("SELECT 1"));
  const auto broken = pool->broken_connections();
  ASSERT_EQ(broken.size(), 1u);
  EXPECT_EQ(broken[0].slot, 0);
  EXPECT_EQ(broken[0].holder, 3);
}

}  // namespace
