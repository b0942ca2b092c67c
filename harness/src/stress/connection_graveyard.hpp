#pragma once
// Where pgrace keeps a connection that a scenario's leaked pqxx transaction
// object (a pqxx::work it never destroyed) still refers to: the object must
// stay alive, or destroying that transaction later would touch freed memory.
// Internal to pgrace.

#include <memory>
#include <pqxx/connection>
#include <vector>

namespace pgrace::detail {

// True when a pqxx transaction object (pqxx::work, nontransaction, ...) is
// open on `connection`, so that no other can be started on it. Sends
// nothing to the server. Call on the thread that uses the connection, or
// with that thread stopped.
bool transaction_object_open(pqxx::connection& connection);

// Ends the server session of backend `pid` (pg_terminate_backend, through
// pgrace's own `control` session) and waits, up to 5 s, until the server
// has dropped it, with its transaction and locks. Throws on SQL errors.
void terminate_backend(pqxx::connection& control, int pid);

// Connections taken out of service that may still be referred to. Not
// thread-safe (its owner, the pool, guards it).
class ConnectionGraveyard {
 public:
  ConnectionGraveyard() = default;
  ConnectionGraveyard(const ConnectionGraveyard&) = delete;
  ConnectionGraveyard& operator=(const ConnectionGraveyard&) = delete;
  // Hands what it holds over to a list kept until the process exits
  // (deliberately never freed): a leaked transaction object may outlive the
  // pool, even the run.
  ~ConnectionGraveyard();

  // Keeps `connection` (its backend already terminated) alive.
  void bury(std::unique_ptr<pqxx::connection> connection);
  // Frees the connections no transaction object refers to anymore (their
  // holders destroyed them). Call with those holders' threads stopped.
  void sweep();
  std::size_t size() const { return buried_.size(); }

 private:
  std::vector<std::unique_ptr<pqxx::connection>> buried_;
};

}  // namespace pgrace::detail
