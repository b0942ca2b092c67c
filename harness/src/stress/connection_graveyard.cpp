#include "stress/connection_graveyard.hpp"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <pqxx/except>
#include <pqxx/nontransaction>
#include <string>
#include <thread>

namespace pgrace::detail {

bool transaction_object_open(pqxx::connection& connection) {
  try {
    pqxx::nontransaction probe(connection);  // registers with the connection only: no SQL is sent
    return false;
  } catch (const pqxx::usage_error&) {
    return true;  // "Started nontransaction while transaction<...> still active"
  }
}

void terminate_backend(pqxx::connection& control, int pid) {
  const std::string self = std::to_string(pid);
  pqxx::nontransaction tx(control);
  tx.exec("SELECT pg_terminate_backend(" + self + ")");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!tx.exec("SELECT 1 FROM pg_stat_activity WHERE pid = " + self).empty() &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

ConnectionGraveyard::~ConnectionGraveyard() {
  static std::mutex mutex;
  static auto* forever = new std::vector<std::unique_ptr<pqxx::connection>>();  // never freed, on purpose
  std::lock_guard lock(mutex);  // no sweep: a thread left running may be destroying a transaction right now
  for (auto& c : buried_) forever->push_back(std::move(c));
}

void ConnectionGraveyard::bury(std::unique_ptr<pqxx::connection> connection) {
  buried_.push_back(std::move(connection));
}

void ConnectionGraveyard::sweep() {
  buried_.erase(
      std::remove_if(buried_.begin(), buried_.end(), [](const auto& c) { return !transaction_object_open(*c); }),
      buried_.end());
}

}  // namespace pgrace::detail
