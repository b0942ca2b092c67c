#pragma once
// The wire proxy's record of requests, per client (application_name).
// Internal to pgrace (see wire/proxy.hpp).

#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "wire/request.hpp"

namespace pgrace::detail {

// Thread-safe. Keeps the last `limit` requests of each client.
class RequestHistory {
 public:
  explicit RequestHistory(std::size_t limit) : limit_(limit) {}

  // Appends a finished request (completed or not) to its client's history.
  void add(const WireRequest& request);
  // The client's requests in the order they finished.
  std::vector<WireRequest> of(const std::string& client) const;
  void clear();

 private:
  const std::size_t limit_;
  mutable std::mutex mutex_;
  std::map<std::string, std::deque<WireRequest>> requests_;
};

// A request's SQL for people: its text and, when it had parameters, them
// after "  -- " as "$1 = 'text', $2 = NULL".
std::string sql_text(const WireRequest& request);

}  // namespace pgrace::detail
