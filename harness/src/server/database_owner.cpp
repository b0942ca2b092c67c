#include "server/database_owner.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>

namespace pgrace::detail {
namespace {

// Start time of process `pid` (field 22 of /proc/<pid>/stat) and whether it
// is a zombie; nullopt if unreadable.
struct ProcessStat {
  unsigned long long start_ticks = 0;
  bool zombie = false;
};

std::optional<ProcessStat> process_stat(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string content;
  if (!std::getline(in, content)) return std::nullopt;
  const auto paren = content.rfind(')');  // the command name may hold spaces and parentheses
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(content.substr(paren + 1));
  std::string field;
  ProcessStat stat;
  for (int number = 3; fields >> field; ++number) {  // field 3 is the state
    if (number == 3) stat.zombie = field == "Z";
    if (number == 22) {
      stat.start_ticks = std::stoull(field);
      return stat;
    }
  }
  return std::nullopt;
}

std::string first_line_of(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// This boot of this machine's process-id space, as 12 hex digits.
const std::string& machine_tag() {
  static const std::string tag = [] {
    char ns[128] = {};
    const ssize_t n = readlink("/proc/self/ns/pid", ns, sizeof ns - 1);
    std::string identity = first_line_of("/proc/sys/kernel/random/boot_id") + '|' + std::string(ns, n > 0 ? n : 0);
    if (identity.size() < 3) {  // no /proc: the host name is the best there is
      char host[HOST_NAME_MAX + 1] = {};
      gethostname(host, sizeof host - 1);
      identity += host;
    }
    std::uint64_t hash = 1469598103934665603ULL;  // FNV-1a
    for (unsigned char c : identity) hash = (hash ^ c) * 1099511628211ULL;
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
    return std::string(hex, 12);
  }();
  return tag;
}

}  // namespace

std::string owned_database_name(const std::string& kind) {
  static std::atomic<long> counter{0};
  const unsigned long long start = process_stat(getpid()).value_or(ProcessStat{}).start_ticks;
  return "pgrace_" + kind + "_" + machine_tag() + "_" + std::to_string(getpid()) + "_" + std::to_string(start) + "_" +
         std::to_string(counter++);
}

DatabaseOwner database_owner(const std::string& name) {
  static const std::regex pattern(R"(pgrace_(?:run|build)_([0-9a-f]{12})_([0-9]{1,9})_([0-9]{1,19})_[0-9]+)");
  std::smatch m;
  if (!std::regex_match(name, m, pattern)) return {};
  const long pid = std::stol(m[2].str());
  if (pid <= 0) return {};
  if (m[1].str() != machine_tag()) return {OwnerState::elsewhere, pid};
  if (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return {OwnerState::gone, pid};
  const auto stat = process_stat(pid);
  if (!stat) return {OwnerState::running, pid};  // it exists, but /proc hides it from us
  const bool same_process = std::to_string(stat->start_ticks) == m[3].str();
  return {same_process && !stat->zombie ? OwnerState::running : OwnerState::gone, pid};
}

}  // namespace pgrace::detail
