#pragma once
// A libpq connection of a spec run: the control connection or a session's,
// opened as the isolation tester opens them ("/" and the session's name
// appended to application_name), with the tester's notice handling: a
// session's notices go to a handler in the order libpq parses them, the
// control connection's are dropped. libpq rather than libpqxx: the engine needs the asynchronous API
// and each result set of a multi-statement step. Internal to pgrace.

#include <libpq-fe.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "pgrace/error.hpp"

namespace pgrace::spec {

// A PGresult that is cleared when it goes out of scope; null for none.
using PgResult = std::unique_ptr<PGresult, decltype(&PQclear)>;

class SpecConnection {
 public:
  // Receives a notice as libpq formats it ("NOTICE:  text\n", DETAIL and
  // HINT lines included).
  using NoticeHandler = std::function<void(const std::string& text)>;

  // Connects to `dsn` and appends "/`name`" to its application_name;
  // notices go to `on_notice`, or nowhere when it is empty. Throws pgrace::Error
  // (infrastructure, naming `name`, redacted) when the connection fails.
  SpecConnection(const std::string& dsn, const std::string& name, NoticeHandler on_notice);
  SpecConnection(const SpecConnection&) = delete;  // libpq holds `this` for the notices
  SpecConnection& operator=(const SpecConnection&) = delete;

  PGconn* get() const { return connection_.get(); }
  const std::string& name() const { return name_; }
  // The backend's process id.
  int pid() const { return PQbackendPID(connection_.get()); }

  // PQexec: the last result of `sql`, or null when it could not be sent
  // (the connection is gone; PQerrorMessage says why). PQresultStatus of
  // null is PGRES_FATAL_ERROR, as the tester relies on.
  PgResult exec(const std::string& sql);
  // Sends `sql` without waiting (PQsendQuery); false when it could not be
  // sent (the connection is gone; PQerrorMessage says why).
  bool send(const std::string& sql);
  // Waits up to `timeout` for data from the server; true when some came
  // (call consume_input() then).
  bool wait_readable(std::chrono::milliseconds timeout) const;
  // Reads what the server sent (PQconsumeInput); false when the connection
  // broke (its backend ended: PQerrorMessage says how).
  bool consume_input();
  // Asks the server to cancel the statement running here; false when the
  // request could not be delivered.
  bool cancel();
  // The infrastructure error for this connection having broken while
  // `doing` ("running step s1a"), with libpq's message, one line, redacted.
  Error lost(const std::string& doing) const;

 private:
  static void forward_notice(void* self, const char* message);
  void append_to_application_name();

  std::unique_ptr<PGconn, decltype(&PQfinish)> connection_;
  std::string name_;
  std::string dsn_;  // for redacting messages
  NoticeHandler on_notice_;
};

}  // namespace pgrace::spec
