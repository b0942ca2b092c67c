#pragma once
// The lines a growing file (a server's log, which its processes append to)
// got during a time window: the bytes between where it ended when the
// window opened and where it ends now. Internal to pgrace.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace pgrace::detail {

// Where the file `path` ends now (0 if it cannot be read, or `path` is "").
std::uintmax_t file_end(const std::string& path);

// The lines of the file `path` from byte `from` to its end, the last `max`
// of them (empty if it cannot be read, or `path` is ""). Never throws but
// std::bad_alloc.
std::vector<std::string> lines_since(const std::string& path, std::uintmax_t from, std::size_t max);

}  // namespace pgrace::detail
