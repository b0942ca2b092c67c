#pragma once
// The Pool given to stress-mode scenarios (pgrace/pool.hpp): a fixed set of
// connections lent out under a mutex, acquirers waiting on a condition
// variable, and the statistics the report shows. Internal to pgrace.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "pgrace/pool.hpp"
#include "pgrace/result.hpp"
#include "stress/connection_graveyard.hpp"
#include "stress/sample_reservoir.hpp"

namespace pgrace::detail {

// Opens the connection of pool slot `slot` (0..size-1), set up for the run.
using OpenPooledConnection = std::function<std::unique_ptr<pqxx::connection>(int slot)>;

// A pooled connection as pgrace names it: "pooled connection 2 (leased by worker 0)".
struct PooledConnection {
  int slot = 0;
  int backend_pid = 0;
  int holder = -1;  // the worker that leased it last (acquire_for()), -1: unknown
};

// Make it with std::make_shared: its leases hold weak references to it.
class LeasePool final : public Pool, public LeaseOwner, public std::enable_shared_from_this<LeasePool> {
 public:
  // Opens `size` (at least 1) connections with `open`, which reclaim() calls
  // again to replace one.
  LeasePool(int size, std::chrono::milliseconds acquire_timeout, OpenPooledConnection open);

  using Pool::acquire;
  Lease acquire(std::chrono::milliseconds timeout) override { return acquire_for(-1, timeout); }
  // acquire() on behalf of worker `holder` (named in PooledConnection).
  // Throws std::invalid_argument for a negative timeout, PoolTimeout when
  // none became free in time or the pool is closed.
  Lease acquire_for(int holder, std::chrono::milliseconds timeout);
  int size() const override { return static_cast<int>(connections_.size()); }
  std::chrono::milliseconds acquire_timeout() const override { return acquire_timeout_; }

  pqxx::connection& leased(int slot, long epoch) override;
  void give_back(int slot, long epoch) noexcept override;

  // Ends a repetition: takes back every lease still held (the most held at
  // one reclaim is PoolStats::leaked), makes every Lease made so far stale,
  // and rolls back whatever transaction a connection was left in. A
  // connection a pqxx transaction object is still open on (leaked with its
  // lease) cannot be rolled back from here: its backend is terminated
  // through `control`, the object kept alive (see ConnectionGraveyard) and a
  // new connection opened in its place. Returns how many leases were still
  // held. Call with no lease in use (the workers joined). SQL errors
  // propagate (a lost connection as pqxx::broken_connection).
  int reclaim(pqxx::connection& control);

  // Ends the pool early (the run timed out): every acquire waiting now or
  // made later throws PoolTimeout at once. Idempotent.
  void close() noexcept;

  // The connections leased now (pgrace names their backends when a run times out).
  std::vector<PooledConnection> leased_connections() const;
  // The connections the server closed (libpq says not open). Call with no lease in use.
  std::vector<PooledConnection> broken_connections() const;

  // What the pool saw so far. `wait` is left zero: the waits are in waits().
  PoolStats stats() const;
  // Every acquire's wait, ms (a sample of them past 10000, with the exact maximum).
  SampleReservoir waits() const;

 private:
  void replace(int slot, pqxx::connection& control);

  const OpenPooledConnection open_;
  std::vector<std::unique_ptr<pqxx::connection>> connections_;  // replaced by reclaim() only, under mutex_
  std::vector<int> pids_;                                       // their backends
  const std::chrono::milliseconds acquire_timeout_;
  mutable std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<int> free_;     // slots not leased; guarded by mutex_, as everything below
  std::vector<int> holders_;  // per slot: the worker that leased it last
  long epoch_ = 0;            // bumped by reclaim(): leases of earlier epochs are stale
  bool closed_ = false;
  long acquires_ = 0;
  long timeouts_ = 0;
  bool other_timeouts_ = false;
  int peak_leased_ = 0;
  int leaked_ = 0;
  SampleReservoir waits_ms_{10000};
  ConnectionGraveyard graveyard_;
};

}  // namespace pgrace::detail
