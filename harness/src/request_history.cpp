#include "request_history.hpp"

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

}  // namespace pgrace::detail
