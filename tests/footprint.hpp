#pragma once
// What ephemeral servers leave behind, for the fault tests: a ServerFootprint
// watches the process table while pgrace runs with PGRACE_TMPDIR=<root>, and
// afterwards says which of the things those servers made still exist.
//
// Other programs (and other pgrace runs) on the same machine make servers and
// shared memory too, so nothing is counted globally: a process belongs to the
// footprint when it runs as the server account with its working directory
// under <root> (every PostgreSQL process does: it works in its data
// directory); a System V segment when one of those processes created it or
// had it attached; a /dev/shm/PostgreSQL.* file when one of them had it
// mapped. The watcher polls every few milliseconds, which catches even
// initdb's short-lived standalone backends (hundreds of milliseconds each).
// Header-only; the polling thread is the only other thread.

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace pgrace::test {

// A process by pid and start time (so a reused pid is not mistaken for it).
struct SeenProcess {
  pid_t pid = 0;
  unsigned long long start_time = 0;  // clock ticks since boot
  std::string exe;                    // program file name: postgres, initdb, cp
  std::string cwd;
  std::time_t first_seen = 0, last_seen = 0;
};

// Fields of /proc/<pid>/stat after the command name (field 3 is [0]), or empty.
inline std::vector<std::string> proc_stat_fields(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string content;
  if (!std::getline(in, content)) return {};
  const auto paren = content.rfind(')');
  if (paren == std::string::npos) return {};
  std::istringstream rest(content.substr(paren + 1));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;
}

inline unsigned long long start_time_of(pid_t pid) {
  const auto fields = proc_stat_fields(pid);
  return fields.size() > 19 ? std::stoull(fields[19]) : 0;  // field 22
}

inline pid_t parent_of(pid_t pid) {
  const auto fields = proc_stat_fields(pid);
  return fields.size() > 1 ? static_cast<pid_t>(std::stol(fields[1])) : -1;  // field 4
}

// True while the process runs (not a zombie) and is the one we saw.
inline bool still_runs(const SeenProcess& p) {
  const auto fields = proc_stat_fields(p.pid);
  return !fields.empty() && fields[0] != "Z" && start_time_of(p.pid) == p.start_time;
}

inline std::string read_link(const std::string& path) {
  std::error_code ec;
  std::string target = fs::read_symlink(path, ec).string();
  const std::string deleted = " (deleted)";
  if (target.size() > deleted.size() && target.compare(target.size() - deleted.size(), deleted.size(), deleted) == 0)
    target.resize(target.size() - deleted.size());
  return target;
}

struct SysvSegment {
  pid_t creator = 0;
  int attached = 0;
  std::time_t created = 0;  // last change, which for PostgreSQL's segments is their creation
};

// System V segments by id, from /proc/sysvipc/shm.
inline std::map<int, SysvSegment> sysv_segments() {
  std::ifstream in("/proc/sysvipc/shm");
  std::string header;
  std::getline(in, header);
  std::map<int, SysvSegment> segments;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    long key = 0, size = 0;
    int id = 0, perms = 0;
    pid_t cpid = 0, lpid = 0;
    int nattch = 0;
    long uid = 0, gid = 0, cuid = 0, cgid = 0, atime = 0, dtime = 0, ctime = 0;
    if (fields >> key >> id >> perms >> size >> cpid >> lpid >> nattch >> uid >> gid >> cuid >> cgid >> atime >>
        dtime >> ctime)
      segments[id] = {cpid, nattch, ctime};
  }
  return segments;
}

// The names in `dir` that start with "pgrace-proxy-": what wire proxies
// (runs with faults) leave behind, which ServerFootprint does not watch.
inline std::set<std::string> proxy_directories(const fs::path& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().filename().string().rfind("pgrace-proxy-", 0) == 0) out.insert(entry.path().filename());
  return out;
}

class ServerFootprint {
 public:
  explicit ServerFootprint(fs::path root) : root_(std::move(root)), thread_([this] { watch(); }) {}
  ~ServerFootprint() { stop(); }
  ServerFootprint(const ServerFootprint&) = delete;
  ServerFootprint& operator=(const ServerFootprint&) = delete;

  // Stops watching (idempotent); call once pgrace has ended.
  void stop() {
    if (!done_.exchange(true)) thread_.join();
  }

  // The processes seen so far.
  std::vector<SeenProcess> seen() const {
    std::lock_guard lock(mutex_);
    std::vector<SeenProcess> out;
    for (const auto& [key, p] : processes_) out.push_back(p);
    return out;
  }

  // The processes running `exe` whose working directory ends with
  // `cwd_suffix` that run now.
  std::vector<SeenProcess> running(const std::string& exe, const std::string& cwd_suffix = "") const {
    std::vector<SeenProcess> out;
    for (const auto& p : seen())
      if (p.exe == exe && p.cwd.size() >= cwd_suffix.size() &&
          p.cwd.compare(p.cwd.size() - cwd_suffix.size(), cwd_suffix.size(), cwd_suffix) == 0 && still_runs(p))
        out.push_back(p);
    return out;
  }

  // A one-line description of what still exists; "" when nothing does.
  // Waits up to `settle` for things to go (cleanup by a watchdog takes a
  // moment).
  std::string leftovers(std::chrono::milliseconds settle = 10000ms) const {
    std::string left;
    eventually([&] { return (left = describe_leftovers()).empty(); }, settle);
    return left;
  }

 private:
  std::string describe_leftovers() const {
    std::ostringstream out;
    std::vector<SeenProcess> processes = seen();
    std::set<int> shmids;
    std::set<std::string> dsm;
    {
      std::lock_guard lock(mutex_);
      shmids = shmids_;
      dsm = dsm_files_;
    }
    for (const auto& p : processes)
      if (still_runs(p)) out << "process " << p.pid << " (" << p.exe << " in " << p.cwd << "); ";
    // Made by one of our processes: by its pid while we saw it run (pids are reused).
    const auto made_by_ours = [&](const SysvSegment& segment) {
      for (const auto& p : processes)
        if (p.pid == segment.creator && segment.created >= p.first_seen - 2 && segment.created <= p.last_seen + 2)
          return true;
      return false;
    };
    for (const auto& [id, segment] : sysv_segments())
      if (shmids.count(id) || made_by_ours(segment))
        out << "System V segment " << id << " (creator " << segment.creator << ", attached " << segment.attached
            << "); ";
    for (const auto& name : dsm)
      if (fs::exists("/dev/shm/" + name)) out << "/dev/shm/" << name << "; ";
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(root_, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("pgrace-cache-", 0) != 0) out << "directory entry " << entry.path().string() << "; ";
    }
    return out.str();
  }

  void watch() {
    const uid_t uid = uid_;
    const std::string root = root_.string();
    while (!done_) {
      std::error_code ec;
      for (const auto& entry : fs::directory_iterator("/proc", ec)) {
        const std::string name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        struct stat st {};
        if (stat(entry.path().c_str(), &st) != 0 || st.st_uid != uid) continue;
        const std::string cwd = read_link(entry.path().string() + "/cwd");
        if (cwd.compare(0, root.size(), root) != 0 || (cwd.size() > root.size() && cwd[root.size()] != '/')) continue;
        record(static_cast<pid_t>(std::stol(name)), cwd);
      }
      std::this_thread::sleep_for(3ms);
    }
  }

  void record(pid_t pid, const std::string& cwd) {
    SeenProcess p{pid, start_time_of(pid), fs::path(read_link("/proc/" + std::to_string(pid) + "/exe")).filename(),
                  cwd};
    if (p.start_time == 0) return;
    std::set<int> shmids;
    std::set<std::string> dsm;
    std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
    for (std::string line; std::getline(maps, line);) {
      if (auto at = line.find("/dev/shm/PostgreSQL."); at != std::string::npos) {
        std::string file = line.substr(at + 9);
        dsm.insert(file.substr(0, file.find(' ')));
      } else if (line.find("/SYSV") != std::string::npos) {
        std::istringstream fields(line);
        std::string range, perms, offset, device;
        long inode = 0;  // for System V segments: the segment id
        if (fields >> range >> perms >> offset >> device >> inode) shmids.insert(static_cast<int>(inode));
      }
    }
    std::lock_guard lock(mutex_);
    // A process can exec and change directory after we first saw it.
    SeenProcess& known = processes_[{pid, p.start_time}];
    p.first_seen = known.first_seen ? known.first_seen : std::time(nullptr);
    p.last_seen = std::time(nullptr);
    known = p;
    shmids_.insert(shmids.begin(), shmids.end());
    dsm_files_.insert(dsm.begin(), dsm.end());
  }

  fs::path root_;
  const uid_t uid_ = server_uid();  // here: getpwnam is not thread-safe
  mutable std::mutex mutex_;
  std::map<std::pair<pid_t, unsigned long long>, SeenProcess> processes_;
  std::set<int> shmids_;
  std::set<std::string> dsm_files_;
  std::atomic<bool> done_{false};
  std::thread thread_;  // last: starts once the rest is ready
};

}  // namespace pgrace::test
