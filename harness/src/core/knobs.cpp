#include "pgrace/knobs.hpp"

#include <algorithm>
#include <cctype>

#include "pgrace/error.hpp"

namespace pgrace {

const char* to_sql(Isolation level) {
  switch (level) {
    case Isolation::read_committed:
      return "read committed";
    case Isolation::repeatable_read:
      return "repeatable read";
    case Isolation::serializable:
      return "serializable";
  }
  return "read committed";
}

Isolation parse_isolation(const std::string& text) {
  std::string key;
  for (char c : text) key += (c == '-' || c == ' ') ? '_' : static_cast<char>(std::tolower(c));
  if (key == "read_committed" || key == "rc") return Isolation::read_committed;
  if (key == "repeatable_read" || key == "rr") return Isolation::repeatable_read;
  if (key == "serializable") return Isolation::serializable;
  throw usage_error("unknown isolation level '" + text + "': use read_committed, repeatable_read or serializable");
}

const char* to_string(Sync sync) { return sync == Sync::start ? "start" : "round"; }

}  // namespace pgrace
