#include "lease_pool.hpp"

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

LeasePool::LeasePool(std::vector<std::unique_ptr<pqxx::connection>> connections,
                     std::chrono::milliseconds acquire_timeout)
    : connections_(std::move(connections)), acquire_timeout_(acquire_timeout), free_(all_slots(connections_.size())) {}

Lease LeasePool::acquire(std::chrono::milliseconds timeout) {
  const auto started = Clock::now();
  std::unique_lock lock(mutex_);
  const bool free = freed_.wait_for(lock, timeout, [this] { return !free_.empty(); });
  const double waited_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  ++acquires_;
  waits_ms_.push_back(waited_ms);
  if (!free) {
    ++timeouts_;
    throw PoolTimeout(timeout_message(size(), timeout, waited_ms));
  }
  const int slot = free_.back();
  free_.pop_back();
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

int LeasePool::reclaim() {
  int held = 0;
  {
    std::lock_guard lock(mutex_);
    held = size() - static_cast<int>(free_.size());
    leaked_ = std::max(leaked_, held);
    ++epoch_;
    free_ = all_slots(connections_.size());
  }
  for (const auto& connection : connections_) {
    pqxx::nontransaction tx(*connection);
    tx.exec("ROLLBACK");  // a warning, not an error, when no transaction is open
  }
  return held;
}

PoolStats LeasePool::stats() const {
  std::lock_guard lock(mutex_);
  PoolStats s;
  s.size = size();
  s.acquire_timeout_ms = static_cast<double>(acquire_timeout_.count());
  s.acquires = acquires_;
  s.timeouts = timeouts_;
  s.peak_leased = peak_leased_;
  s.leaked = leaked_;
  return s;
}

std::vector<double> LeasePool::waits_ms() const {
  std::lock_guard lock(mutex_);
  return waits_ms_;
}

}  // namespace pgrace::detail
