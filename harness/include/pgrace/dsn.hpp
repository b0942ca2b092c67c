#pragma once
// Connection strings: where they come from, how they are shown, how they are
// changed. Both libpq forms are accepted: URLs (postgresql://u:p@h:5432/db,
// or postgres://) and key=value strings (host=h dbname=db password=p).

#include <optional>
#include <string>

namespace pgrace {

// The connection string to use, in order of precedence: `from_command_line`
// (--dsn), then $PGRACE_DSN, then $DATABASE_URL. nullopt means "start an
// ephemeral server". An empty value counts as not given.
std::optional<std::string> resolve_dsn(const std::optional<std::string>& from_command_line);

// `dsn` with every password replaced by "***", in the form it was given,
// whether or not it is a valid connection string: the user:password@ of a
// URL of any scheme (postgresql+psycopg2://, mysql://, ...) or of
// user:password@host, and the value of any password-like key (password,
// sslpassword, passwor, pwd, ...). `dsn` is read as one connection string,
// as libpq reads it: a URL's password runs to its last @, blanks included.
// Safe for logs and reports. Never throws.
std::string redact_dsn(const std::string& dsn);

// `text` (e.g. a message from libpq or the server) with `dsn`, where it
// appears whole, replaced by redact_dsn(dsn), and every connection string
// in it redacted as redact_dsn() would (a URL or key=value up to white
// space). The password's text elsewhere is left alone: libpq and the server
// quote no password outside a connection string (validate_dsn makes sure
// libpq never gets to quote a misread piece of one). Never throws.
std::string scrub_secrets(const std::string& text, const std::string& dsn);

// Checks that libpq can parse `dsn` and reads its password whole (an
// unencoded @ or / in a URL's password would end it early, and libpq would
// quote the rest as the host or port). Throws pgrace::Error (infrastructure)
// with a redacted one-line message if not, naming the accepted forms; the
// message quotes libpq on the redacted text only.
void validate_dsn(const std::string& dsn);

// `dsn` rewritten as a key=value string that connects to database `dbname`
// instead. Other parameters, the password included, are kept.
// Throws pgrace::Error like validate_dsn for an unparsable dsn.
std::string dsn_with_database(const std::string& dsn, const std::string& dbname);

// The value of parameter `key` in `dsn` (e.g. "dbname", "host"), if set.
std::optional<std::string> dsn_parameter(const std::string& dsn, const std::string& key);

}  // namespace pgrace
