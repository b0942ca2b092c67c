#pragma once
// A scenario's own options (`pgrace run NAME -o key=value`). Scenarios read
// them with defaults when they are created; an option that no scenario read
// is a usage error, so a typo never silently runs the default.

#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace pgrace {

class Options {
 public:
  Options() = default;
  // Parses "key=value" items. Throws pgrace::Error (usage) on a malformed item.
  explicit Options(const std::vector<std::string>& items);

  // The value of `key` converted to long / double / string, or `fallback` if
  // unset; marks `key` as read. Throws pgrace::Error (usage, one line naming
  // the option and the accepted range) if the value does not convert or lies
  // outside [min, max]; give every numeric option the range the scenario can
  // actually run with, so that no value overflows its arithmetic or its SQL
  // types. A double must also be finite. `fallback` is not checked. Not
  // thread-safe: read options while constructing a scenario.
  long get_int(const std::string& key, long fallback, long min = std::numeric_limits<long>::min(),
               long max = std::numeric_limits<long>::max());
  double get_double(const std::string& key, double fallback, double min = std::numeric_limits<double>::lowest(),
                    double max = std::numeric_limits<double>::max());
  std::string get_string(const std::string& key, const std::string& fallback);

  // Keys that were given but never read.
  std::vector<std::string> unread() const;
  // Every key that was read (given or not), for error messages.
  const std::set<std::string>& read_keys() const { return read_; }

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> read_;
};

}  // namespace pgrace
