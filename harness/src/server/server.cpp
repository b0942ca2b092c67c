#include "pgrace/server.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <pqxx/nontransaction>

#include "pgrace/connection.hpp"
#include "pgrace/dsn.hpp"
#include "pgrace/error.hpp"
#include "server/ephemeral_cluster.hpp"

namespace pgrace {

void check_server_setting(const std::string& name, const std::string& value) {
  const auto name_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; };
  if (name.empty() || !std::all_of(name.begin(), name.end(), name_char))
    throw usage_error("server setting name '" + name + "' is not a setting name (letters, digits, '_' and '.'), " +
                      "e.g. lock_timeout=50ms");
  if (value.empty() || std::any_of(value.begin(), value.end(), [](char c) { return std::iscntrl(static_cast<unsigned char>(c)); }))
    throw usage_error("server setting " + name + " needs a value without control characters, e.g. " + name + "=...");
}

std::unique_ptr<Server> Server::open(const std::optional<std::string>& dsn, const EphemeralServerOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  setenv("PGCONNECT_TIMEOUT", "5", /*overwrite=*/0);  // bounded wait for unreachable hosts
  std::unique_ptr<Server> server(new Server);
  if (dsn) {
    if (!options.settings.empty())
      throw usage_error("server settings (--server-setting) apply to the ephemeral server pgrace starts; with a "
                        "connection string, set them on that server");
    validate_dsn(*dsn);
    server->dsn_ = *dsn;
  } else {
    for (const auto& [name, value] : options.settings) check_server_setting(name, value);
    server->settings_ = options.settings;
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

std::string Server::log_file() const { return cluster_ ? cluster_->log_file().string() : ""; }

long Server::pid() const { return cluster_ ? cluster_->pid() : 0; }

}  // namespace pgrace
