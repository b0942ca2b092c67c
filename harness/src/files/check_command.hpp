#pragma once
// A scenario file's invariant checked by a program (`command = [...]`).
// Internal to pgrace.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace pgrace::files {

// Runs `command` (argv, no shell; found as require_program() finds it) in
// `folder` with pgrace's environment plus `environment`, stdin and stderr
// on /dev/null, for at most `timeout_s` seconds (then it is killed).
// Returns the witnesses of a violation: none when it exited 0; else its
// stdout's non-blank lines, or one line saying how it ended when it printed
// nothing. Throws pgrace::Error (infrastructure) if it cannot be started.
std::vector<std::string> run_check_command(const std::vector<std::string>& command, const std::filesystem::path& folder,
                                           const std::map<std::string, std::string>& environment, int timeout_s);

}  // namespace pgrace::files
