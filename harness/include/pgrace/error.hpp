#pragma once
// pgrace's one error type. Every failure that should stop a command carries
// the exit code the CLI returns for it and a one-line message that names the
// problem and the fix. Messages never contain passwords.

#include <stdexcept>
#include <string>

namespace pgrace {

// Exit codes of the pgrace command (see README, "Exit codes").
enum class ExitCode : int {
  ok = 0,              // every scenario matched its expectation
  mismatch = 1,        // some scenario did not
  usage = 2,           // bad command line, unknown scenario, bad option
  infrastructure = 3,  // no server, bad or unreachable DSN, lost connection
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const noexcept { return code_; }

 private:
  ExitCode code_;
};

// A usage or configuration error (exit code 2).
inline Error usage_error(const std::string& message) { return Error(ExitCode::usage, message); }

// An infrastructure error: the server is missing, unreachable or gone (exit code 3).
inline Error infrastructure_error(const std::string& message) { return Error(ExitCode::infrastructure, message); }

// `message` folded onto one line, for printing errors: PostgreSQL's
// position and context lines (LINE n:, the caret line, CONTEXT:, QUERY:,
// STATEMENT:, LOCATION:) are dropped, the other lines (DETAIL:, HINT:, a
// trailing "(fix ...)") are joined with "; " (or a space before a "("),
// and runs of blanks become one space. Never returns text with a newline.
// Longer than `limit` characters, it is cut there and ends in "...".
std::string one_line(const std::string& message, std::size_t limit = std::string::npos);

}  // namespace pgrace
