#include "server/watchdog.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "pgrace/error.hpp"

namespace fs = std::filesystem;

namespace pgrace::detail {
namespace {

// The watchdog process; async-signal-safe, as it was forked from a
// multithreaded process.
[[noreturn]] void watch(const InstanceRef& instance, int pipe_fd, int lock_fd) {
  setsid();  // out of the terminal's process group: Ctrl-C is pgrace's to handle
  prctl(PR_SET_NAME, "pgrace-watchdog");
  const int devnull = open("/dev/null", O_RDWR);
  for (int fd = 0; fd < 3; ++fd) dup2(devnull, fd);
  if (chdir("/") != 0) _exit(1);
  // Keep only the pipe and the lock: holding another instance's pipe or lock
  // would keep that instance's owner alive in others' eyes.
  const unsigned low = static_cast<unsigned>(std::min(pipe_fd, lock_fd));
  const unsigned high = static_cast<unsigned>(std::max(pipe_fd, lock_fd));
  if (low > 3) close_range(3, low - 1, 0);
  if (high > low + 1) close_range(low + 1, high - 1, 0);
  close_range(high + 1, ~0U, 0);

  char buffer[64];
  for (;;) {
    const ssize_t n = read(pipe_fd, buffer, sizeof buffer);
    if (n == 0 || (n < 0 && errno != EINTR)) break;
  }
  struct stat st {};
  if (lstat(instance.dir, &st) == 0) remove_instance(instance);
  _exit(0);
}

// Whether `name` is `prefix` followed by what mkdtemp puts for XXXXXX.
bool is_directory_name(const std::string& name, const std::string& prefix) {
  return name.size() == prefix.size() + 6 && name.compare(0, prefix.size(), prefix) == 0 &&
         std::all_of(name.begin() + static_cast<std::ptrdiff_t>(prefix.size()), name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)); });
}

// Locks the owner.lock of instance `dir` if the instance is ours and nobody
// holds it. Returns the descriptor holding the lock, or -1.
int lock_if_orphaned(const fs::path& dir) {
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) return -1;
  const fs::path lock = dir / kOwnerLock;
  const int fd = open(lock.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat held {
  }, named{};
  // The lock counts only if the file is still the one at that name: an
  // instance being removed unlinks it while locked.
  if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &held) == 0 && lstat(lock.c_str(), &named) == 0 &&
      held.st_ino == named.st_ino && held.st_dev == named.st_dev && held.st_uid == geteuid())
    return fd;
  close(fd);
  return -1;
}

}  // namespace

int lock_instance(const fs::path& dir) {
  // Made under another name and renamed once locked, so that nobody sees an
  // unlocked owner.lock of a live instance.
  const fs::path fresh = dir / ".owner.lock.new";
  const int fd = open(fresh.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 || flock(fd, LOCK_EX) != 0 || rename(fresh.c_str(), (dir / kOwnerLock).c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    if (fd >= 0) close(fd);
    throw infrastructure_error("cannot create the lock of " + dir.string() + ": " + reason);
  }
  return fd;
}

Watchdog start_watchdog(const InstanceRef& instance, int lock_fd) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw infrastructure_error(std::string("pipe failed: ") + std::strerror(errno));
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    throw infrastructure_error(std::string("fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) {
    close(fds[1]);
    watch(instance, fds[0], lock_fd);
  }
  close(fds[0]);
  return {pid, fds[1]};
}

void reap_orphaned(const fs::path& base, const std::string& prefix,
                   const std::function<void(const fs::path&)>& remove) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(base, ec)) {
    if (!is_directory_name(entry.path().filename().string(), prefix)) continue;
    const int lock = lock_if_orphaned(entry.path());
    if (lock < 0) continue;
    remove(entry.path());
    close(lock);
  }
}

void reap_orphaned_instances(const fs::path& base, const Account& account) {
  reap_orphaned(base, "pgrace-",
                [&account](const fs::path& dir) { remove_instance(make_instance_ref(dir.string(), account)); });
}

}  // namespace pgrace::detail
