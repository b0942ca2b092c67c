#pragma once
// A bounded connection pool as applications have one (a size and an acquire
// timeout), offered to stress-mode scenarios beside each worker's own
// connection: Worker::pool().acquire() lends a connection until the Lease
// goes out of scope. Scenarios use it to show what pools do to applications
// under load: a request that holds one connection while it waits for another,
// or an error path that never gives its connection back, starves the pool.
// An acquire that finds no free connection in time throws PoolTimeout, which
// pgrace counts as the outcome pool_timeout.
//
// The pool's connections are real server connections, opened with the
// workers' (at the run's isolation level, the scenario's prepare() called on
// each) before the first repetition. After each repetition pgrace takes back
// every lease still held (counting it as leaked) and rolls back whatever
// transaction a pooled connection was left in; a connection a leaked pqxx
// transaction object is still open on is replaced instead (its backend
// terminated, the connection object kept alive for that transaction's
// later destruction). When a run times out, pgrace closes the pool: every
// waiting and later acquire throws PoolTimeout at once.

#include <chrono>
#include <memory>
#include <pqxx/connection>
#include <stdexcept>
#include <string>

namespace pgrace {

// The pool a scenario asks for in its Knobs (or --pool-size / --pool-timeout).
struct PoolSettings {
  int size = 0;                                    // connections, 1..256; 0: no pool
  std::chrono::milliseconds acquire_timeout{100};  // how long Pool::acquire() waits, 1..600000 ms
};

// Thrown by Pool::acquire() when no connection became free within the
// timeout. Its message names the pool's size and the time waited.
class PoolTimeout : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
// What a Lease calls back into; implemented by pgrace's pool. A Lease is
// valid while its owner exists and its epoch is the owner's current one.
class LeaseOwner {
 public:
  virtual ~LeaseOwner() = default;
  // The connection of `slot` leased in `epoch`; throws std::logic_error when
  // that lease was taken back since (a stale lease).
  virtual pqxx::connection& leased(int slot, long epoch) = 0;
  // Returns `slot` to the pool, unless the lease of `epoch` was taken back.
  virtual void give_back(int slot, long epoch) noexcept = 0;
};
}  // namespace detail

// One pooled connection, lent to its holder until release() or the
// destructor gives it back. Move-only; not thread-safe (it belongs to the
// thread that acquired it, like the connection it lends).
//
// A lease kept beyond the repetition it was taken in (leaked into some
// structure) is harmless: pgrace takes every lease back between repetitions,
// after which the old Lease's release() and destructor do nothing and its
// connection() throws std::logic_error, so it cannot disturb the next
// repetition. The same holds after the pool itself is gone.
class Lease {
 public:
  // Holds nothing (held() is false).
  Lease() = default;
  // Made by a pool: the connection of `slot`, leased in `epoch` of `owner`.
  Lease(std::weak_ptr<detail::LeaseOwner> owner, int slot, long epoch);
  Lease(Lease&& other) noexcept;
  // Releases what this lease held, then takes over `other`'s.
  Lease& operator=(Lease&& other) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  // Releases the connection (see release()).
  ~Lease();

  // The leased connection. Throws std::logic_error when nothing is held (a
  // moved-from or released lease) or the lease is stale (taken back by pgrace
  // after its repetition).
  pqxx::connection& connection();
  pqxx::connection* operator->() { return &connection(); }
  pqxx::connection& operator*() { return connection(); }

  // Gives the connection back to the pool now (an early return); afterwards
  // held() is false. Idempotent; does nothing for a stale lease.
  // Precondition, not checked: no pqxx transaction object (pqxx::work,
  // nontransaction, ...) is still open on the connection — destroy it
  // first (declare the Lease before it). Otherwise the next acquirer gets a
  // connection another thread's transaction object still uses: a data race
  // on one pqxx::connection, as with any pool.
  void release() noexcept;
  // True until release() (or a move from this lease); stays true for a stale
  // lease, which its holder never released.
  bool held() const { return slot_ >= 0; }

 private:
  std::weak_ptr<detail::LeaseOwner> owner_;
  int slot_ = -1;
  long epoch_ = 0;
};

// A bounded pool of connections, shared by all workers of a run.
// Thread-safe. Waiting acquirers are served as connections free up, in no
// guaranteed order.
class Pool {
 public:
  virtual ~Pool() = default;
  // Lends a free connection, waiting up to `timeout` for one. Throws
  // PoolTimeout when none became free in time (or pgrace closed the pool,
  // ending a timed-out run), std::invalid_argument for a negative timeout.
  // Every call that waited is counted, with its wait, in the run's pool
  // statistics (Stress::pool).
  virtual Lease acquire(std::chrono::milliseconds timeout) = 0;
  // acquire(acquire_timeout()): the pool's configured timeout.
  Lease acquire() { return acquire(acquire_timeout()); }
  // The number of connections (PoolSettings::size).
  virtual int size() const = 0;
  // The configured timeout (PoolSettings::acquire_timeout).
  virtual std::chrono::milliseconds acquire_timeout() const = 0;
};

}  // namespace pgrace
