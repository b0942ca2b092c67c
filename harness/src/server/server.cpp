#include "pgrace/server.hpp"

#include <cstdlib>
#include <pqxx/nontransaction>

#include "pgrace/connection.hpp"
#include "pgrace/dsn.hpp"
#include "server/ephemeral_cluster.hpp"

namespace pgrace {

std::unique_ptr<Server> Server::open(const std::optional<std::string>& dsn, const EphemeralServerOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  setenv("PGCONNECT_TIMEOUT", "5", /*overwrite=*/0);  // bounded wait for unreachable hosts
  std::unique_ptr<Server> server(new Server);
  if (dsn) {
    validate_dsn(*dsn);
    server->dsn_ = *dsn;
  } else {
    server->cluster_ = std::make_unique<detail::EphemeralCluster>(options);
    server->dsn_ = server->cluster_->dsn();
    server->timings_ = server->cluster_->timings();
  }
  auto connection = connect(server->dsn_);
  pqxx::nontransaction tx(*connection);
  server->version_ = tx.exec("SHOW server_version")[0][0].as<std::string>();
  if (server->cluster_)  // time to the first successful query
    server->timings_.total_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return server;
}

Server::~Server() = default;

std::string Server::display_dsn() const { return redact_dsn(dsn_); }

std::string Server::directory() const { return cluster_ ? cluster_->directory().string() : ""; }

}  // namespace pgrace
