#pragma once
// The tokens of an isolation spec file (see spec.hpp for the format).
// Internal to the spec parser.

#include <cstddef>
#include <string>
#include <string_view>

#include "spec/spec.hpp"

namespace pgrace::spec::detail {

enum class Token {
  end,          // end of the file
  name,         // identifier or "quoted name"; text is the name
  sql,          // { ... }; text is the SQL, trimmed as the tester trims it
  integer,      // digits; text is the digits
  open_paren,   // (
  close_paren,  // )
  comma,        // ,
  star,         // *
  kw_notices,
  kw_permutation,
  kw_session,
  kw_setup,
  kw_step,
  kw_teardown,
};

struct Lexeme {
  Token kind = Token::end;
  std::string text;
  Position at;
};

// How a lexeme reads in an error message: `"step"`, `end of file`, ...
std::string describe(const Lexeme& lexeme);

// `text` with every control byte (below 0x20, and 0x7f) written as \xNN, so
// that an error message stays one line and is not cut at a NUL byte.
std::string printable(const std::string& text);

class Scanner {
 public:
  // `text` must outlive the scanner; `file` names it in error messages.
  Scanner(std::string_view text, std::string file);

  // The next lexeme, skipping white space and # comments. Throws
  // pgrace::Error (usage) `file:line:column: message` on an unterminated SQL
  // block or quoted name, a newline in a quoted name, or a character that
  // starts no token.
  Lexeme next();

  // A usage error `file:line:column: message` at `at`, its control bytes
  // escaped (see printable).
  [[noreturn]] void fail(const Position& at, const std::string& message) const;

 private:
  char peek(std::size_t ahead = 0) const;
  void advance();  // one byte, keeping line and column
  void skip_blanks_and_comments();
  Lexeme word();
  Lexeme quoted_name();
  Lexeme sql_block();
  Lexeme integer();

  std::string_view text_;
  std::string file_;
  std::size_t pos_ = 0;
  Position at_;
};

}  // namespace pgrace::spec::detail
