#include "wire/commit_watch.hpp"

#include <stdexcept>

namespace pgrace::detail {
namespace {

// A server message's line in libpq's trace (libpq 14 and later):
// "[timestamp\t]B\t<length>\t<message>\t<fields>". Older formats match
// nothing, and the watch then sees neither commits nor rollbacks.
bool is_server_message(const std::string& line, const std::string& message, std::string& fields) {
  const auto from = line.find("\tB\t");
  if (from == std::string::npos) return false;
  const auto name = line.find('\t', from + 3);
  if (name == std::string::npos || line.compare(name + 1, message.size(), message) != 0) return false;
  fields = line.substr(name + 1 + message.size());
  return true;
}

}  // namespace

CommitWatch::CommitWatch() {
  cookie_io_functions_t io{nullptr, &CommitWatch::write_trace, nullptr, nullptr};
  trace_ = fopencookie(this, "w", io);
  if (!trace_) throw std::runtime_error("cannot open a memory stream for a connection's trace");
}

CommitWatch::~CommitWatch() { std::fclose(trace_); }

void CommitWatch::attach(pqxx::connection& connection) {
  catch_up();
  partial_.clear();
  in_block_ = completed_ = false;
  connection_ = &connection;
  connection.trace(on_ ? trace_ : nullptr);
}

void CommitWatch::reset(bool on) {
  catch_up();
  committed_ = rolled_back_ = false;
  if (on != on_ && connection_) {
    connection_->trace(on ? trace_ : nullptr);
    in_block_ = completed_ = false;  // a call starts outside a transaction block
  }
  on_ = on;
}

bool CommitWatch::committed() {
  catch_up();
  return committed_;
}

bool CommitWatch::rolled_back() {
  catch_up();
  return rolled_back_;
}

void CommitWatch::catch_up() { std::fflush(trace_); }

ssize_t CommitWatch::write_trace(void* cookie, const char* data, std::size_t size) {
  auto& watch = *static_cast<CommitWatch*>(cookie);
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] != '\n') {
      watch.partial_ += data[i];
      continue;
    }
    watch.take_line(watch.partial_);
    watch.partial_.clear();
  }
  return static_cast<ssize_t>(size);
}

void CommitWatch::take_line(const std::string& line) {
  std::string fields;
  if (is_server_message(line, "CommandComplete\t", fields)) {
    if (fields == " \"COMMIT\"")
      committed_ = true;
    else if (fields == " \"ROLLBACK\"")
      rolled_back_ = true;
    else if (fields != " \"SET\"" && fields != " \"SHOW\"" && fields != " \"RESET\"")
      completed_ = true;
  } else if (is_server_message(line, "ReadyForQuery\t", fields)) {
    // A statement that completed outside a transaction block committed.
    // (SET, SHOW and RESET write nothing, and do not count.)
    if (completed_ && !in_block_ && fields == " I") committed_ = true;
    in_block_ = fields != " I";
    completed_ = false;
  }
}

}  // namespace pgrace::detail
