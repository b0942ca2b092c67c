#include "worker_connection.hpp"

namespace pgrace::detail {

WorkerConnection::WorkerConnection(Opener open)
    : open_(std::move(open)), connection_(open_()), pid_(connection_->backendpid()) {}

pqxx::connection& WorkerConnection::get() {
  if (lost_) {
    connection_.reset();  // closed before its replacement opens
    connection_ = open_();
    pid_ = connection_->backendpid();
    lost_ = false;
  }
  return *connection_;
}

}  // namespace pgrace::detail
