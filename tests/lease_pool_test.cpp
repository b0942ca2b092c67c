// The contract of the bounded pool offered to stress scenarios
// (pgrace/pool.hpp, harness/src/lease_pool.hpp), on real connections to an
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

#include <future>
#include <pqxx/nontransaction>
#include <set>
#include <thread>

#include "lease_pool.hpp"
#include "pgrace/connection.hpp"
#include "pgrace/outcome.hpp"
#include "pgrace/server.hpp"

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

  static std::shared_ptr<LeasePool> make_pool(int size, std::chrono::milliseconds timeout = 50ms) {
    std::vector<std::unique_ptr<pqxx::connection>> connections;
    for (int i = 0; i < size; ++i) connections.push_back(pgrace::connect(server_->dsn()));
    return std::make_shared<LeasePool>(std::move(connections), timeout);
  }

  static int backend_pid(Lease& lease) { return lease->backendpid(); }

  // The state pg_stat_activity shows for backend `pid` ("idle", "idle in transaction", ...).
  static std::string backend_state(int pid) {
    auto control = pgrace::connect(server_->dsn());
    pqxx::nontransaction tx(*control);
    return tx.exec("SELECT state FROM pg_stat_activity WHERE pid = " + std::to_string(pid))[0][0].c_str();
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
  EXPECT_EQ(pool->reclaim(), 1);
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
  EXPECT_EQ(pool->reclaim(), 2);
  EXPECT_EQ(pool->reclaim(), 0);
  const pgrace::PoolStats s = pool->stats();
  EXPECT_EQ(s.size, 3);
  EXPECT_EQ(s.acquire_timeout_ms, 30);
  EXPECT_EQ(s.acquires, 6);
  EXPECT_EQ(s.timeouts, 1);
  EXPECT_EQ(s.peak_leased, 3);
  EXPECT_EQ(s.leaked, 2) << "the most leases held at one reclaim";
  const auto waits = pool->waits_ms();
  ASSERT_EQ(waits.size(), 6u);
  int long_waits = 0;
  for (double w : waits) long_waits += w >= 30;
  EXPECT_EQ(long_waits, 1) << "only the timed-out acquire waited its timeout";
}

}  // namespace
