#include "pgrace/dsn.hpp"

#include <libpq-fe.h>

#include <cstdlib>
#include <memory>
#include <regex>
#include <vector>

#include "pgrace/error.hpp"

namespace pgrace {
namespace {

const std::regex& url_userinfo_password() {
  static const std::regex re(R"(((?:postgres|postgresql)://[^:@/?#\s]*:)([^@/?#\s]*)@)",
                             std::regex::icase);
  return re;
}
const std::regex& url_query_password() {
  static const std::regex re(R"(([?&]password=)([^&#\s]*))", std::regex::icase);
  return re;
}
// As libpq reads key=value: a quoted value (possibly unterminated: then
// everything to the end) or an unquoted one up to white space, with
// backslash escapes in both.
const std::regex& keyword_password() {
  static const std::regex re(R"((\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'?|(?:\\.|[^\s\\])*))",
                             std::regex::icase);
  return re;
}

bool is_url(const std::string& dsn) {
  static const std::regex re(R"(^\s*postgres(ql)?://)", std::regex::icase);
  return std::regex_search(dsn, re);
}

// Applies every redaction rule, whatever the form: for free text.
std::string redact_everything(const std::string& text) {
  std::string out = std::regex_replace(text, url_userinfo_password(), "$1***@");
  out = std::regex_replace(out, url_query_password(), "$1***");
  return std::regex_replace(out, keyword_password(), "$1***");
}

using ConninfoOptions = std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)>;

// Parses `dsn` with libpq; on failure returns null and sets `error`.
ConninfoOptions parse(const std::string& dsn, std::string& error) {
  char* message = nullptr;
  ConninfoOptions options(PQconninfoParse(dsn.c_str(), &message), &PQconninfoFree);
  if (!options) {
    error = message ? message : "out of memory";
    PQfreemem(message);
    while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
  }
  return options;
}

// Every spelling of a password that `dsn` contains: as written and as decoded.
std::vector<std::string> passwords_in(const std::string& dsn) {
  std::vector<std::string> found;
  for (const std::regex* re : {&url_userinfo_password(), &url_query_password(), &keyword_password()}) {
    for (std::sregex_iterator it(dsn.begin(), dsn.end(), *re), end; it != end; ++it) {
      std::string value = (*it)[2].str();
      if (!value.empty() && value.front() == '\'') {
        found.push_back(value.substr(1));
        if (value.size() >= 2 && value.back() == '\'') found.push_back(value.substr(1, value.size() - 2));
      }
      found.push_back(value);
    }
  }
  std::string ignored;
  if (auto options = parse(dsn, ignored)) {
    for (auto* o = options.get(); o->keyword; ++o)
      if (std::string(o->keyword) == "password" && o->val) found.emplace_back(o->val);
  }
  return found;
}

std::string quote_value(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

}  // namespace

std::optional<std::string> resolve_dsn(const std::optional<std::string>& from_command_line) {
  if (from_command_line && !from_command_line->empty()) return from_command_line;
  for (const char* name : {"PGRACE_DSN", "DATABASE_URL"}) {
    const char* value = std::getenv(name);
    if (value && *value) return std::string(value);
  }
  return std::nullopt;
}

std::string redact_dsn(const std::string& dsn) {
  if (!is_url(dsn)) return std::regex_replace(dsn, keyword_password(), "$1***");
  std::string out = std::regex_replace(dsn, url_userinfo_password(), "$1***@");
  return std::regex_replace(out, url_query_password(), "$1***");
}

std::string scrub_secrets(const std::string& text, const std::string& dsn) {
  std::string out = text;
  for (const std::string& secret : passwords_in(dsn)) {
    if (secret.empty() || secret == "***") continue;
    for (std::size_t at = out.find(secret); at != std::string::npos; at = out.find(secret, at + 3))
      out.replace(at, secret.size(), "***");
  }
  return redact_everything(out);
}

void validate_dsn(const std::string& dsn) {
  std::string error;
  if (!parse(dsn, error))
    throw infrastructure_error("invalid connection string " + redact_dsn(dsn) + ": " +
                               scrub_secrets(error, dsn) +
                               " (use postgresql://user:password@host:port/db or key=value form)");
}

std::string dsn_with_database(const std::string& dsn, const std::string& dbname) {
  validate_dsn(dsn);
  std::string error;
  auto options = parse(dsn, error);
  std::string out;
  for (auto* o = options.get(); o->keyword; ++o) {
    std::string keyword = o->keyword;
    if (keyword == "dbname" || !o->val) continue;
    out += keyword + "=" + quote_value(o->val) + " ";
  }
  return out + "dbname=" + quote_value(dbname);
}

std::optional<std::string> dsn_parameter(const std::string& dsn, const std::string& key) {
  std::string error;
  auto options = parse(dsn, error);
  if (!options) return std::nullopt;
  for (auto* o = options.get(); o->keyword; ++o)
    if (key == o->keyword && o->val) return std::string(o->val);
  return std::nullopt;
}

}  // namespace pgrace
