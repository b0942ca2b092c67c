#include "spec/connection.hpp"

#include <poll.h>

#include <cerrno>

#include "pgrace/dsn.hpp"

namespace pgrace::spec {

SpecConnection::SpecConnection(const std::string& dsn, const std::string& name, NoticeHandler on_notice)
    : connection_(nullptr, &PQfinish), name_(name), dsn_(dsn), on_notice_(std::move(on_notice)) {
  connection_.reset(PQconnectdb(dsn.c_str()));
  if (!connection_) throw infrastructure_error("cannot open connection \"" + name + "\": out of memory");
  if (PQstatus(connection_.get()) != CONNECTION_OK)
    throw infrastructure_error("cannot open connection \"" + name +
                               "\": " + one_line(scrub_secrets(PQerrorMessage(connection_.get()), dsn)));
  PQsetNoticeProcessor(connection_.get(), &SpecConnection::forward_notice, this);
  append_to_application_name();
}

// As the tester does: application_name becomes what the connection string
// (or PGAPPNAME) made it, then "/" and the session's name.
void SpecConnection::append_to_application_name() {
  const char* const values[] = {name_.c_str()};
  const PgResult result(PQexecParams(connection_.get(),
                                     "SELECT pg_catalog.set_config('application_name', "
                                     "pg_catalog.current_setting('application_name') || '/' || $1, false)",
                                     1, nullptr, values, nullptr, nullptr, 0),
                        &PQclear);
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) throw lost("setting application_name");
}

void SpecConnection::forward_notice(void* self, const char* message) {
  auto* connection = static_cast<SpecConnection*>(self);
  if (connection->on_notice_) connection->on_notice_(message);
}

PgResult SpecConnection::exec(const std::string& sql) {
  return PgResult(PQexec(connection_.get(), sql.c_str()), &PQclear);
}

bool SpecConnection::send(const std::string& sql) { return PQsendQuery(connection_.get(), sql.c_str()) == 1; }

bool SpecConnection::wait_readable(std::chrono::milliseconds timeout) const {
  pollfd fd{PQsocket(connection_.get()), POLLIN, 0};
  if (fd.fd < 0) throw lost("waiting for the server");
  const int ready = poll(&fd, 1, static_cast<int>(timeout.count()));
  if (ready < 0 && errno != EINTR) throw lost("waiting for the server");
  return ready > 0;
}

bool SpecConnection::consume_input() { return PQconsumeInput(connection_.get()) == 1; }

bool SpecConnection::cancel() {
  std::unique_ptr<PGcancel, decltype(&PQfreeCancel)> request(PQgetCancel(connection_.get()), &PQfreeCancel);
  char error[256];
  return request && PQcancel(request.get(), error, sizeof error);
}

Error SpecConnection::lost(const std::string& doing) const {
  return infrastructure_error("connection \"" + name_ + "\" broke while " + doing + ": " +
                              one_line(scrub_secrets(PQerrorMessage(connection_.get()), dsn_)));
}

}  // namespace pgrace::spec
