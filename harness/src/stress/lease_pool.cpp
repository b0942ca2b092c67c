#include "stress/lease_pool.hpp"

#include <algorithm>
#include <iomanip>
#include <pqxx/nontransaction>
#include <sstream>
#include <stdexcept>

namespace pgrace::detail {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<int> all_slots(std::size_t n) {
  std::vector<int> slots;
  for (std::size_t i = n; i-- > 0;) slots.push_back(static_cast<int>(i));  // slot 0 lent first
  return slots;
}

std::string timeout_message(int size, std::chrono::milliseconds timeout, double waited_ms) {
  std::ostringstream out;
  out << "pool timeout: none of the pool's " << size << " connection(s) became free within " << timeout.count()
      << " ms (waited " << std::fixed << std::setprecision(1) << waited_ms << " ms)";
  return out.str();
}

}  // namespace

LeasePool::LeasePool(int size, std::chrono::milliseconds acquire_timeout, OpenPooledConnection open)
    : open_(std::move(open)),
      acquire_timeout_(acquire_timeout),
      free_(all_slots(static_cast<std::size_t>(size))),
      holders_(static_cast<std::size_t>(size), -1) {
  for (int slot = 0; slot < size; ++slot) {
    connections_.push_back(open_(slot));
    pids_.push_back(connections_.back()->backendpid());
  }
}

Lease LeasePool::acquire_for(int holder, std::chrono::milliseconds timeout) {
  if (timeout.count() < 0)
    throw std::invalid_argument("Pool::acquire(): the timeout must not be negative (got " +
                                std::to_string(timeout.count()) + " ms)");
  const auto started = Clock::now();
  std::unique_lock lock(mutex_);
  const bool free = freed_.wait_for(lock, timeout, [this] { return closed_ || !free_.empty(); });
  if (closed_) throw PoolTimeout("pool closed: pgrace is ending the run (it timed out)");
  const double waited_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  ++acquires_;
  other_timeouts_ = other_timeouts_ || timeout != acquire_timeout_;
  waits_ms_.add(waited_ms);
  if (!free) {
    ++timeouts_;
    throw PoolTimeout(timeout_message(size(), timeout, waited_ms));
  }
  const int slot = free_.back();
  free_.pop_back();
  holders_[static_cast<std::size_t>(slot)] = holder;
  peak_leased_ = std::max(peak_leased_, size() - static_cast<int>(free_.size()));
  return Lease(weak_from_this(), slot, epoch_);
}

pqxx::connection& LeasePool::leased(int slot, long epoch) {
  std::lock_guard lock(mutex_);
  if (epoch != epoch_)
    throw std::logic_error(
        "this pool lease was taken back at the end of the repetition it was acquired in (it was never released: "
        "leaked); acquire a new one");
  return *connections_.at(static_cast<std::size_t>(slot));
}

void LeasePool::give_back(int slot, long epoch) noexcept {
  {
    std::lock_guard lock(mutex_);
    if (epoch != epoch_) return;
    free_.push_back(slot);
  }
  freed_.notify_one();
}

int LeasePool::reclaim(pqxx::connection& control) {
  int held = 0;
  {
    std::lock_guard lock(mutex_);
    held = size() - static_cast<int>(free_.size());
    leaked_ = std::max(leaked_, held);
    ++epoch_;
    free_ = all_slots(connections_.size());
    graveyard_.sweep();
  }
  for (int slot = 0; slot < size(); ++slot) {
    pqxx::connection& connection = *connections_[static_cast<std::size_t>(slot)];
    if (transaction_object_open(connection)) {
      replace(slot, control);
      continue;
    }
    pqxx::nontransaction tx(connection);
    tx.exec("ROLLBACK");  // a warning, not an error, when no transaction is open
  }
  return held;
}

// The leaked transaction object may hold locks the next repetition's reset
// would wait for: its backend goes first, then its connection is replaced.
void LeasePool::replace(int slot, pqxx::connection& control) {
  const auto at = static_cast<std::size_t>(slot);
  terminate_backend(control, pids_[at]);
  auto fresh = open_(slot);
  std::lock_guard lock(mutex_);
  graveyard_.bury(std::move(connections_[at]));
  connections_[at] = std::move(fresh);
  pids_[at] = connections_[at]->backendpid();
}

void LeasePool::close() noexcept {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  freed_.notify_all();
}

std::vector<PooledConnection> LeasePool::leased_connections() const {
  std::lock_guard lock(mutex_);
  std::vector<PooledConnection> out;
  for (int slot = 0; slot < size(); ++slot)
    if (std::find(free_.begin(), free_.end(), slot) == free_.end())
      out.push_back({slot, pids_[static_cast<std::size_t>(slot)], holders_[static_cast<std::size_t>(slot)]});
  return out;
}

std::vector<PooledConnection> LeasePool::broken_connections() const {
  std::lock_guard lock(mutex_);
  std::vector<PooledConnection> out;
  for (int slot = 0; slot < size(); ++slot) {
    const auto at = static_cast<std::size_t>(slot);
    if (!connections_[at]->is_open()) out.push_back({slot, pids_[at], holders_[at]});
  }
  return out;
}

PoolStats LeasePool::stats() const {
  std::lock_guard lock(mutex_);
  PoolStats s;
  s.size = size();
  s.acquire_timeout_ms = static_cast<double>(acquire_timeout_.count());
  s.other_timeouts = other_timeouts_;
  s.acquires = acquires_;
  s.timeouts = timeouts_;
  s.peak_leased = peak_leased_;
  s.leaked = leaked_;
  return s;
}

SampleReservoir LeasePool::waits() const {
  std::lock_guard lock(mutex_);
  return waits_ms_;
}

}  // namespace pgrace::detail
