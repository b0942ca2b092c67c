#pragma once
// The Pool given to stress-mode scenarios (pgrace/pool.hpp): a fixed set of
// connections lent out under a mutex, acquirers waiting on a condition
// variable, and the statistics the report shows. Internal to pgrace.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "pgrace/pool.hpp"
#include "pgrace/result.hpp"

namespace pgrace::detail {

// Make it with std::make_shared: its leases hold weak references to it.
class LeasePool final : public Pool, public LeaseOwner, public std::enable_shared_from_this<LeasePool> {
 public:
  // Takes ownership of `connections` (at least one, already set up).
  LeasePool(std::vector<std::unique_ptr<pqxx::connection>> connections, std::chrono::milliseconds acquire_timeout);

  using Pool::acquire;
  Lease acquire(std::chrono::milliseconds timeout) override;
  int size() const override { return static_cast<int>(connections_.size()); }
  std::chrono::milliseconds acquire_timeout() const override { return acquire_timeout_; }

  pqxx::connection& leased(int slot, long epoch) override;
  void give_back(int slot, long epoch) noexcept override;

  // Ends a repetition: takes back every lease still held (the most held at
  // one reclaim is PoolStats::leaked), makes every Lease made so far stale,
  // and rolls back whatever transaction a connection was left in. Returns
  // how many leases were still held. Call with no lease in use (the workers
  // joined). SQL errors propagate (a lost connection as pqxx::broken_connection).
  int reclaim();

  // What the pool saw so far. `wait` is left zero: the waits are in waits_ms().
  PoolStats stats() const;
  // Every acquire's wait, ms, in no particular order.
  std::vector<double> waits_ms() const;

 private:
  const std::vector<std::unique_ptr<pqxx::connection>> connections_;
  const std::chrono::milliseconds acquire_timeout_;
  mutable std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<int> free_;  // slots not leased; guarded by mutex_, as everything below
  long epoch_ = 0;         // bumped by reclaim(): leases of earlier epochs are stale
  long acquires_ = 0;
  long timeouts_ = 0;
  int peak_leased_ = 0;
  int leaked_ = 0;
  std::vector<double> waits_ms_;
};

}  // namespace pgrace::detail
