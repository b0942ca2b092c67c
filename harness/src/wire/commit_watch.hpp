#pragma once
// What a connection's transactions came to, as the server told its client:
// reads the connection's protocol trace (libpq's PQtrace, into a memory
// stream of the watch's own) for the server's CommandComplete tags and
// ReadyForQuery statuses. A COMMIT tag, or a statement that completed
// outside a transaction block (autocommit), is a commit; a ROLLBACK tag
// (also the reply to the COMMIT of a failed transaction) a rollback. So
// pgrace can tell code that returned TxResult::committed without a commit
// (a forgotten tx.commit(): the pqxx::work rolled back when it was
// destroyed) without a proxy between the code and the server. Internal to
// pgrace.

#include <cstdio>
#include <pqxx/connection>
#include <string>

namespace pgrace::detail {

class CommitWatch {
 public:
  // Only the thread that uses the watched connection may use the watch.
  CommitWatch();
  // Closes the trace: the connection it watched must be gone (it writes to
  // the trace until it is closed), or watch no more (attach() another).
  ~CommitWatch();
  CommitWatch(const CommitWatch&) = delete;
  CommitWatch& operator=(const CommitWatch&) = delete;

  // Watches `connection` from now on (while on()), instead of the one
  // before (which must be gone by then). What was seen is kept.
  void attach(pqxx::connection& connection);
  // Forgets what was seen: a transaction() call starts, and is watched or
  // not (libpq's trace costs a fifth of a short transaction's time).
  void reset(bool on);
  // Since reset(): some transaction committed; some rolled back.
  bool committed();
  bool rolled_back();

 private:
  static ssize_t write_trace(void* watch, const char* data, std::size_t size);
  void take_line(const std::string& line);
  void catch_up();

  std::FILE* trace_ = nullptr;
  pqxx::connection* connection_ = nullptr;
  bool on_ = true;
  std::string partial_;         // the trace's last line, not yet ended
  bool in_block_ = false;       // the last ReadyForQuery said 'T' or 'E'
  bool completed_ = false;      // a statement completed since the last ReadyForQuery
  bool committed_ = false;
  bool rolled_back_ = false;
};

}  // namespace pgrace::detail
