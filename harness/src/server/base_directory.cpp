#include "server/base_directory.hpp"

#include <unistd.h>

#include <cstdlib>

namespace pgrace::detail {

BaseDirectory base_directory() {
  if (const char* dir = std::getenv("PGRACE_TMPDIR"); dir && *dir) return {dir, "PGRACE_TMPDIR"};
  if (access("/dev/shm", W_OK | X_OK) == 0) return {"/dev/shm", ""};
  if (const char* tmp = std::getenv("TMPDIR"); tmp && *tmp) return {tmp, "TMPDIR"};
  return {"/tmp", ""};
}

}  // namespace pgrace::detail
