#include "files/database_url.hpp"

#include <cctype>
#include <cstdio>

#include "pgrace/dsn.hpp"

namespace pgrace::files {
namespace {

std::string encoded(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

std::string parameter(const std::string& dsn, const char* key) { return dsn_parameter(dsn, key).value_or(""); }

}  // namespace

std::string database_url(const std::string& dsn, const std::string& application_name) {
  const std::string user = parameter(dsn, "user");
  const std::string password = parameter(dsn, "password");
  std::string authority = encoded(user);
  if (!password.empty()) authority += ":" + encoded(password);
  if (!authority.empty()) authority += "@";
  authority += encoded(parameter(dsn, "host"));
  const std::string port = parameter(dsn, "port");
  if (!port.empty()) authority += ":" + port;
  return "postgresql://" + authority + "/" + encoded(parameter(dsn, "dbname")) +
         "?application_name=" + encoded(application_name) + "&sslmode=disable";
}

std::map<std::string, std::string> libpq_environment(const std::string& dsn, const std::string& application_name) {
  std::map<std::string, std::string> env{{"PGHOST", parameter(dsn, "host")}, {"PGPORT", parameter(dsn, "port")},
                                         {"PGUSER", parameter(dsn, "user")}, {"PGDATABASE", parameter(dsn, "dbname")},
                                         {"PGAPPNAME", application_name},    {"PGSSLMODE", "disable"}};
  if (const std::string password = parameter(dsn, "password"); !password.empty()) env["PGPASSWORD"] = password;
  return env;
}

}  // namespace pgrace::files
