#pragma once
// Where pgrace makes its private run directories (ephemeral servers, their
// template cache, the wire proxy's socket). Internal to pgrace.

#include <filesystem>
#include <string>

#include "pgrace/error.hpp"

namespace pgrace::detail {

// The name of every wire proxy's private directory starts with this.
inline constexpr const char* kProxyDirectoryPrefix = "pgrace-proxy-";

// The directory for run directories, and the environment variable that
// chose it ("" for a built-in default).
struct BaseDirectory {
  std::filesystem::path path;
  std::string variable;

  // "PGRACE_TMPDIR=/x", or the path for a built-in default.
  std::string described() const { return variable.empty() ? path.string() : variable + "=" + path.string(); }
  // A configuration error when the user chose the directory, else an infrastructure error.
  Error error(const std::string& message) const {
    return variable.empty() ? infrastructure_error(message) : usage_error(message);
  }
};

// $PGRACE_TMPDIR, else tmpfs when we may write there, else $TMPDIR, else /tmp.
BaseDirectory base_directory();

}  // namespace pgrace::detail
