#pragma once
// The flags of pgrace's commands that set run settings: one table of the
// engine's settings (RunSettings fields, as SettingError names them) with
// each one's flag and range, one strict parser per type used by every
// subcommand, and the mapping of the engine's setting errors back to the
// flags the user passed.

#include <cstdint>
#include <string>
#include <variant>

#include "pgrace/runner.hpp"

namespace pgrace::cli {

// One setting of the table: how the engine names it, how the command line
// spells it, and what it accepts (none: a word or a list, parsed elsewhere).
struct Flag {
  const char* setting;  // "threads", "duration_s", "statement_workers", ...
  const char* name;     // "--threads", "--duration", "--workers", ...
  std::variant<std::monostate, WholeRange, SecondsRange> range;
};

// The entry for `setting`. Throws std::logic_error for a setting the table lacks.
const Flag& flag_for(const std::string& setting);

// `text` given for `flag` as a whole number in `range`: ASCII digits only,
// so no sign (not even "+5" or "-0"), blank, "0x", exponent or fraction.
// Throws pgrace::Error (usage), one line: "--threads must be a whole number
// from 1 to 256, got '0x1'".
std::uint64_t parse_whole(const std::string& flag, const std::string& text, WholeRange range);

// `text` given for `flag` as seconds in `range`: digits with at most one
// '.' between digits ("0.5", "30"), nothing else. Throws pgrace::Error
// (usage), one line naming the flag and the range.
double parse_seconds(const std::string& flag, const std::string& text, SecondsRange range);

// parse_whole() or parse_seconds() of the table's entry for `setting`,
// converted to T (whose range must hold the setting's).
template <class T>
T parse_setting(const std::string& setting, const std::string& text) {
  const Flag& flag = flag_for(setting);
  if (const auto* whole = std::get_if<WholeRange>(&flag.range))
    return static_cast<T>(parse_whole(flag.name, text, *whole));
  return static_cast<T>(parse_seconds(flag.name, text, std::get<SecondsRange>(flag.range)));
}

// Runs `code` and returns its result; a SettingError about a setting the
// command line gave (not a scenario's knob) comes out as pgrace::Error
// (usage) naming its flag: "--timeout 5 is not longer than ...".
template <class Code>
auto naming_flags(Code&& code) -> decltype(code()) {
  try {
    return code();
  } catch (const SettingError& e) {
    if (e.knob()) throw;
    throw usage_error(std::string(flag_for(e.setting()).name) + " " + e.problem());
  }
}

}  // namespace pgrace::cli
