#pragma once
// The SharedPool given to scenarios: statements round-robin over pooled
// connections, in autocommit mode. Internal to pgrace.

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "pgrace/scenario.hpp"

namespace pgrace::detail {

class RoundRobinPool : public SharedPool {
 public:
  // Takes ownership of `connections` (at least one).
  explicit RoundRobinPool(std::vector<std::unique_ptr<pqxx::connection>> connections);
  pqxx::result query(const std::string& sql, const std::vector<std::string>& params) override;
  // Rolls back whatever transaction a connection was left in, as closing the
  // pool's connections would. Call with no query in flight.
  void roll_back_all();

 private:
  std::vector<std::unique_ptr<pqxx::connection>> connections_;
  std::vector<std::mutex> locks_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace pgrace::detail
