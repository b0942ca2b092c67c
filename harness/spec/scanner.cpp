#include "spec/scanner.hpp"

#include <utility>

#include "pgrace/error.hpp"

namespace pgrace::spec::detail {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f'; }

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool starts_identifier(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || byte >= 0x80;
}

bool continues_identifier(char c) { return starts_identifier(c) || is_digit(c) || c == '$'; }

Token keyword_or_name(const std::string& word) {
  if (word == "notices") return Token::kw_notices;
  if (word == "permutation") return Token::kw_permutation;
  if (word == "session") return Token::kw_session;
  if (word == "setup") return Token::kw_setup;
  if (word == "step") return Token::kw_step;
  if (word == "teardown") return Token::kw_teardown;
  return Token::name;
}

std::string quote(const std::string& text) { return "\"" + text + "\""; }

}  // namespace

std::string describe(const Lexeme& lexeme) {
  switch (lexeme.kind) {
    case Token::end:
      return "end of file";
    case Token::name:
      return "name " + quote(lexeme.text);
    case Token::sql:
      return "a { SQL } block";
    case Token::integer:
      return "number " + lexeme.text;
    case Token::open_paren:
      return quote("(");
    case Token::close_paren:
      return quote(")");
    case Token::comma:
      return quote(",");
    case Token::star:
      return quote("*");
    default:
      return quote(lexeme.text);  // a keyword
  }
}

std::string printable(const std::string& text) {
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      out += std::string("\\x") + hex[byte >> 4] + hex[byte & 0xF];
    } else {
      out += c;
    }
  }
  return out;
}

Scanner::Scanner(std::string_view text, std::string file) : text_(text), file_(std::move(file)) {}

void Scanner::fail(const Position& at, const std::string& message) const {
  throw usage_error(
      printable(file_ + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) + ": " + message));
}

char Scanner::peek(std::size_t ahead) const { return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0'; }

void Scanner::advance() {
  const auto byte = static_cast<unsigned char>(text_[pos_++]);
  if (byte == '\n') {
    ++at_.line;
    at_.column = 1;
  } else if ((byte & 0xC0) != 0x80) {  // not a UTF-8 continuation byte
    ++at_.column;
  }
}

void Scanner::skip_blanks_and_comments() {
  while (pos_ < text_.size()) {
    if (is_blank(peek()) || peek() == '\n') {
      advance();
    } else if (peek() == '#') {
      while (pos_ < text_.size() && peek() != '\n' && peek() != '\r') advance();
    } else {
      return;
    }
  }
}

Lexeme Scanner::next() {
  skip_blanks_and_comments();
  if (pos_ >= text_.size()) return {Token::end, "", at_};
  const char c = peek();
  if (starts_identifier(c)) return word();
  if (c == '"') return quoted_name();
  if (c == '{') return sql_block();
  if (is_digit(c)) return integer();
  const Position at = at_;
  const Token punctuation = c == '('   ? Token::open_paren
                            : c == ')' ? Token::close_paren
                            : c == ',' ? Token::comma
                            : c == '*' ? Token::star
                                       : Token::end;
  if (punctuation == Token::end) {
    fail(at, "unexpected character " + quote(std::string(1, c)) +
                 "; names are identifiers or \"quoted\", and SQL goes between { and }");
  }
  advance();
  return {punctuation, std::string(1, c), at};
}

Lexeme Scanner::word() {
  const Position at = at_;
  std::string text;
  while (pos_ < text_.size() && continues_identifier(peek())) {
    text += peek();
    advance();
  }
  return {keyword_or_name(text), text, at};
}

Lexeme Scanner::quoted_name() {
  const Position at = at_;
  advance();  // the opening quote
  std::string text;
  for (;;) {
    if (pos_ >= text_.size()) fail(at, "unterminated quoted name; close it with \"");
    if (peek() == '\n') fail(at_, "newline in quoted name; close it with \" on the same line");
    if (peek() == '"' && peek(1) == '"') {  // "" stands for one "
      text += '"';
      advance();
      advance();
    } else if (peek() == '"') {
      advance();
      return {Token::name, text, at};
    } else {
      text += peek();
      advance();
    }
  }
}

Lexeme Scanner::sql_block() {
  const Position at = at_;
  advance();  // {
  while (pos_ < text_.size() && is_blank(peek())) advance();
  std::string sql;
  while (pos_ < text_.size() && peek() != '}') {
    sql += peek();
    advance();
  }
  if (pos_ >= text_.size()) fail(at, "unterminated SQL block; close it with } (SQL may not contain })");
  advance();  // }
  while (!sql.empty() && is_blank(sql.back())) sql.pop_back();
  // The tester keeps the block as a C string: it ends at a NUL byte.
  if (const auto nul = sql.find('\0'); nul != std::string::npos) sql.erase(nul);
  return {Token::sql, sql, at};
}

Lexeme Scanner::integer() {
  const Position at = at_;
  std::string digits;
  while (pos_ < text_.size() && is_digit(peek())) {
    digits += peek();
    advance();
  }
  return {Token::integer, digits, at};
}

}  // namespace pgrace::spec::detail
