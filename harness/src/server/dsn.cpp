#include "pgrace/dsn.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <regex>
#include <vector>

#include "pgrace/error.hpp"
#include "server/dsn_rewrite.hpp"

namespace pgrace {
namespace {

// The redaction rules. None of them depends on the text being a connection
// string libpq accepts: they apply to any URL, to user:password@host without
// a scheme, and to any password-like key, wherever such text appears.

// The part of a password-like key that makes it one: password, passwor,
// sslpassword, passwd, pwd, secret, token, ...
constexpr char kSecretKey[] = R"([a-z_]*(?:pass|pwd|secret|token)[a-z_]*)";

// scheme://user:password@ (any scheme, any number of slashes). The password
// runs to the last @ of the white-space-delimited word: an unencoded @ in a
// password is hidden too.
const std::regex& url_userinfo_password() {
  static const std::regex re(R"(([a-z][a-z0-9+.\-]*:/+[^\s:@/'"]*:)(\S*)@)", std::regex::icase);
  return re;
}
// user:password@host with no scheme, as a word of its own.
const std::regex& bare_userinfo_password() {
  static const std::regex re(R"((^|[\s'"(<=,])([^\s:@/'"(<=,]+:)(?!/)(\S*)@)", std::regex::icase);
  return re;
}
const std::regex& url_query_password() {
  static const std::regex re(std::string(R"(([?&])") + kSecretKey + R"(=)([^&#\s]*))", std::regex::icase);
  return re;
}
// key=value, as libpq reads it: a quoted value (possibly unterminated: then
// everything to the end) or an unquoted one up to white space, with
// backslash escapes in both. The key starts a word (a URL's ?key= is the
// rule above, which stops at the next &).
const std::regex& keyword_password() {
  static const std::regex re(
      std::string(R"((^|[\s'"(,])()") + kSecretKey + R"(\s*=\s*)('(?:[^'\\]|\\.)*'?|(?:\\.|[^\s\\])*))",
      std::regex::icase);
  return re;
}

// Something written as a URL (scheme:...) or as user:password@host.
bool is_url(const std::string& dsn) {
  static const std::regex scheme(R"(^\s*[a-z][a-z0-9+.\-]*:)", std::regex::icase);
  return std::regex_search(dsn, scheme);
}

// Something written as a URL that libpq does not take as a PostgreSQL URL:
// postgresql+psycopg2://, mysql://, postgresql:/x, app:pw@host/db, ...
bool is_foreign_url(const std::string& dsn) {
  static const std::regex ours(R"(^\s*postgres(ql)?://)", std::regex::icase);
  return is_url(dsn) && !std::regex_search(dsn, ours);
}

// Applies every redaction rule.
std::string redact_everything(const std::string& text) {
  std::string out = std::regex_replace(text, url_userinfo_password(), "$1***@");
  out = std::regex_replace(out, bare_userinfo_password(), "$1$2***@");
  out = std::regex_replace(out, url_query_password(), "$1***");
  return std::regex_replace(out, keyword_password(), "$1$2***");
}

// libpq's keywords as alternatives of a regular expression: host|port|...
std::string libpq_keywords() {
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> defaults(PQconndefaults(), &PQconninfoFree);
  std::string out;
  for (auto* o = defaults.get(); o && o->keyword; ++o) out += (out.empty() ? "" : "|") + std::string(o->keyword);
  return out.empty() ? "host|port|dbname|user" : out;
}

// The rules for text that is one whole connection string, which libpq reads
// as one: a URL's password runs to its last @ and a query password to the
// next &, white space included; an unquoted key=value password also takes
// the words after it up to the next libpq keyword= (libpq refuses them, but
// the user meant them as the password).
std::string redact_whole_dsn(const std::string& dsn) {
  static const std::regex url_password(R"(^(\s*[a-z][a-z0-9+.\-]*:/+[^\s:@/'"]*:)[\s\S]*@)", std::regex::icase);
  static const std::regex query_password(std::string(R"(([?&])") + kSecretKey + R"(=)[^&]*)", std::regex::icase);
  static const std::regex keyword_password(std::string(R"((^|\s)()") + kSecretKey +
                                               R"(\s*=\s*)(?!')(?:\\.|[^\s\\])*(?:(?!\s+(?:)" + libpq_keywords() +
                                               R"()\s*=)\s+(?:\\.|[^\s\\])+)*)",
                                           std::regex::icase);
  if (is_url(dsn)) return std::regex_replace(std::regex_replace(dsn, url_password, "$1***@"), query_password, "$1***");
  return std::regex_replace(dsn, keyword_password, "$1$2***");
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

// Why libpq would take part of the password of URL `dsn` for something
// else, and show it where the password is not hidden, or "": an unencoded @
// ends the password early and the rest becomes the host, an unencoded /
// ends the user part and the password becomes the port.
std::string misread_password(const std::string& dsn) {
  if (!is_url(dsn)) return "";
  if (dsn_parameter(dsn, "host").value_or("").find('@') != std::string::npos)
    return "the user name or password holds an unencoded \"@\": write it as %40";
  const std::string port = dsn_parameter(dsn, "port").value_or("");
  if (port.find_first_not_of("0123456789,") != std::string::npos)
    return "the port is not a number (an unencoded \"/\" in the password ends the user part: write it as %2F)";
  return "";
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

std::string redact_dsn(const std::string& dsn) { return redact_everything(redact_whole_dsn(dsn)); }

std::string scrub_secrets(const std::string& text, const std::string& dsn) {
  std::string out = text;
  if (!dsn.empty()) {
    const std::string redacted = redact_dsn(dsn);
    for (std::size_t at = out.find(dsn); at != std::string::npos; at = out.find(dsn, at + redacted.size()))
      out.replace(at, dsn.size(), redacted);
  }
  return redact_everything(out);
}

void validate_dsn(const std::string& dsn) {
  static const std::string accepted =
      " (accepted: postgresql:// or postgres:// URLs such as postgresql://user:password@host:5432/db, or "
      "key=value such as host=h port=5432 user=u dbname=db)";
  std::string why;
  if (parse(dsn, why))
    why = misread_password(dsn);
  else if (is_foreign_url(dsn))
    why = "not a PostgreSQL URL";
  // libpq may quote what it cannot read, the password included: ask it about
  // the redacted text, where it can quote no password.
  else if (parse(redact_dsn(dsn), why))
    why =
        "the password cannot be read (quote a password with blanks, ' or \\ as password='it\\'s secret', or "
        "percent-encode it in a URL)";
  if (!why.empty()) throw infrastructure_error("invalid connection string " + redact_dsn(dsn) + ": " + why + accepted);
}

std::string dsn_with_database(const std::string& dsn, const std::string& dbname) {
  return detail::dsn_with_parameters(dsn, {{"dbname", dbname}});
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

namespace pgrace::detail {

std::string dsn_with_parameters(const std::string& dsn, const std::vector<std::pair<std::string, std::string>>& set,
                                const std::vector<std::string>& drop) {
  validate_dsn(dsn);
  std::string error;
  auto options = parse(dsn, error);
  const auto replaced = [&](const std::string& keyword) {
    return std::find(drop.begin(), drop.end(), keyword) != drop.end() ||
           std::any_of(set.begin(), set.end(), [&](const auto& entry) { return entry.first == keyword; });
  };
  std::string out;
  for (auto* o = options.get(); o->keyword; ++o)
    if (o->val && !replaced(o->keyword)) out += std::string(o->keyword) + "=" + quote_value(o->val) + " ";
  for (const auto& [keyword, value] : set) out += keyword + "=" + quote_value(value) + " ";
  if (!out.empty()) out.pop_back();
  return out;
}

}  // namespace pgrace::detail
