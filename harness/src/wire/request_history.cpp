#include "wire/request_history.hpp"

namespace pgrace::detail {

void RequestHistory::add(const WireRequest& request) {
  std::lock_guard lock(mutex_);
  auto& requests = requests_[request.client];
  requests.push_back(request);
  if (requests.size() > limit_) requests.pop_front();
}

std::vector<WireRequest> RequestHistory::of(const std::string& client) const {
  std::lock_guard lock(mutex_);
  const auto found = requests_.find(client);
  if (found == requests_.end()) return {};
  return {found->second.begin(), found->second.end()};
}

void RequestHistory::clear() {
  std::lock_guard lock(mutex_);
  requests_.clear();
}

std::string sql_text(const WireRequest& request) {
  if (request.params.empty()) return request.sql;
  std::string text = request.sql + "  -- ";
  for (std::size_t i = 0; i < request.params.size(); ++i)
    text += (i ? ", $" : "$") + std::to_string(i + 1) + " = " +
            (request.params[i] ? "'" + *request.params[i] + "'" : "NULL");
  return text;
}

}  // namespace pgrace::detail
