#include "server/instance_cleanup.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "pgrace/error.hpp"

namespace pgrace::detail {
namespace {

// Everything below runs in forked children of a multithreaded process (and
// in the watchdog): system calls, fixed buffers and <cstring> only.

// A string built in a fixed buffer.
class Text {
 public:
  Text& add(const char* s) {
    while (*s) put(*s++);
    return *this;
  }
  Text& add(unsigned long value) {
    char digits[24];
    int n = 0;
    do {
      digits[n++] = static_cast<char>('0' + value % 10);
      value /= 10;
    } while (value > 0);
    while (n > 0) put(digits[--n]);
    return *this;
  }
  const char* c_str() const { return buffer_; }

 private:
  void put(char c) {
    if (length_ + 1 < sizeof buffer_) buffer_[length_++] = c;
  }
  char buffer_[512] = {};
  std::size_t length_ = 0;
};

long now_ms() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

void sleep_ms(long ms) {
  timespec t{ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&t, &t) != 0 && errno == EINTR) {
  }
}

// Calls f(name) for each entry (but . and ..) of the directory open at `fd`.
template <typename F>
void for_each_entry(int fd, F f) {
  alignas(dirent64) char buffer[4096];
  for (;;) {
    const ssize_t n = getdents64(fd, buffer, sizeof buffer);
    if (n <= 0) return;
    for (ssize_t at = 0; at < n;) {
      const auto* entry = reinterpret_cast<const dirent64*>(buffer + at);
      at += entry->d_reclen;
      if (std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0) f(entry->d_name);
    }
  }
}

// ----------------------------------------------------------------- processes

int pidfd_open(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

int pidfd_send_signal(int pidfd, int sig) {
  return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

// The target of the /proc link `path`, without the " (deleted)" the kernel
// appends for removed files and directories; false if unreadable.
bool read_proc_link(const char* path, char* out, std::size_t size) {
  const ssize_t n = readlink(path, out, size - 1);
  if (n <= 0) return false;
  out[n] = '\0';
  const char deleted[] = " (deleted)";
  const std::size_t k = sizeof deleted - 1;
  if (static_cast<std::size_t>(n) > k && std::strcmp(out + n - k, deleted) == 0) out[n - k] = '\0';
  return true;
}

bool inside(const char* path, const char* dir) {
  const std::size_t n = std::strlen(dir);
  return std::strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

bool is_server_program(const char* exe) {
  const char* slash = std::strrchr(exe, '/');
  const char* name = slash ? slash + 1 : exe;
  return std::strcmp(name, "postgres") == 0 || std::strcmp(name, "initdb") == 0 || std::strcmp(name, "cp") == 0;
}

bool owned_by(const char* proc_dir, uid_t uid) {
  struct stat st {};
  return stat(proc_dir, &st) == 0 && st.st_uid == uid;
}

// A pidfd for process `pid` if it belongs to the instance: it runs as the
// server account, runs postgres, initdb or cp, and its working directory is
// inside the instance (every process pgrace starts for an instance runs
// there, and the server's processes in its data directory). -1 otherwise.
int open_instance_process(pid_t pid, const InstanceRef& instance) {
  Text proc;
  proc.add("/proc/").add(static_cast<unsigned long>(pid));
  if (!owned_by(proc.c_str(), instance.account.uid)) return -1;
  const int pidfd = pidfd_open(pid);
  if (pidfd < 0) return -1;
  Text cwd_link = proc, exe_link = proc;
  cwd_link.add("/cwd");
  exe_link.add("/exe");
  char cwd[512], exe[512];
  const bool ours = owned_by(proc.c_str(), instance.account.uid) && read_proc_link(cwd_link.c_str(), cwd, sizeof cwd) &&
                    inside(cwd, instance.dir) && read_proc_link(exe_link.c_str(), exe, sizeof exe) &&
                    is_server_program(exe) &&
                    // Still alive, so `pid` was not reused while we looked.
                    pidfd_send_signal(pidfd, 0) == 0;
  if (ours) return pidfd;
  close(pidfd);
  return -1;
}

// Sends `sig` to every process of the instance; returns how many there were.
int signal_instance_processes(const InstanceRef& instance, int sig) {
  const int proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (proc < 0) return 0;
  int count = 0;
  for_each_entry(proc, [&](const char* name) {
    unsigned long pid = 0;
    for (const char* c = name; *c; ++c) {
      if (*c < '0' || *c > '9') return;
      pid = pid * 10 + static_cast<unsigned long>(*c - '0');
    }
    const int pidfd = open_instance_process(static_cast<pid_t>(pid), instance);
    if (pidfd < 0) return;
    pidfd_send_signal(pidfd, sig);
    close(pidfd);
    ++count;
  });
  close(proc);
  return count;
}

// SIGTERM lets every PostgreSQL process remove its own shared memory: a
// postmaster shuts down (its clients are gone or get SIGTERM too), initdb
// and its standalone backends exit cleanly. Escalates for the stubborn.
void stop_instance_processes(const InstanceRef& instance) {
  const long start = now_ms();
  for (;;) {
    const long elapsed = now_ms() - start;
    const int sig = elapsed < 2000 ? SIGTERM : elapsed < 4000 ? SIGQUIT : SIGKILL;
    if (signal_instance_processes(instance, sig) == 0 || elapsed > 10000) return;
    sleep_ms(10);
  }
}

// ----------------------------------------------------------- shared memory

// The start of every PostgreSQL shared memory segment (PGShmemHeader in
// PostgreSQL's src/include/storage/pg_shmem.h, unchanged since 9.4). A
// server's System V segment holds little more than this header.
struct PgShmemHeader {
  std::int32_t magic;
  pid_t creator_pid;
  std::size_t total_size;
  std::size_t free_offset;
  std::uint32_t dsm_control;  // handle of the dynamic shared memory control segment
  void* index;
  dev_t device;  // of the data directory
  ino_t inode;   // of the data directory
};
constexpr std::int32_t kPgShmemMagic = 679834894;

// The POSIX dynamic shared memory segment with handle `handle`, if it
// belongs to `uid`.
void unlink_dynamic_segment(std::uint32_t handle, uid_t uid) {
  Text path;
  path.add("/dev/shm/PostgreSQL.").add(static_cast<unsigned long>(handle));
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == uid) unlink(path.c_str());
}

// Removes the control segment `control` of a process that could not remove
// its dynamic shared memory, and the segments it lists. The control segment
// is a dsm_control_header (PostgreSQL's src/backend/storage/ipc/dsm.c: magic,
// number of items, room for items) followed by the items, each starting
// with its handle and reference count; the item size differs between
// versions, so it is taken from the segment's size.
void remove_dynamic_segments(std::uint32_t control, uid_t uid) {
  constexpr std::uint32_t kControlMagic = 0x9a503d32;
  constexpr off_t kItemsOffset = 16;
  Text path;
  path.add("/dev/shm/PostgreSQL.").add(static_cast<unsigned long>(control));
  const int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) {
    struct stat st {};
    std::uint32_t header[3] = {};  // magic, nitems, maxitems
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == uid &&
        pread(fd, header, sizeof header, 0) == sizeof header && header[0] == kControlMagic && header[2] > 0 &&
        st.st_size > kItemsOffset && (st.st_size - kItemsOffset) % header[2] == 0) {
      const off_t item_size = (st.st_size - kItemsOffset) / header[2];
      for (std::uint32_t i = 0; i < header[1] && i < header[2] && item_size >= 8; ++i) {
        std::uint32_t item[2] = {};  // handle, reference count
        if (pread(fd, item, sizeof item, kItemsOffset + i * item_size) == sizeof item && item[1] > 0)
          unlink_dynamic_segment(item[0], uid);
      }
    }
    close(fd);
  }
  unlink_dynamic_segment(control, uid);
}

struct DataDirectory {
  dev_t device = 0;
  ino_t inode = 0;
  bool posix_dsm = false;  // its processes keep dynamic shared memory in /dev/shm
  bool exists = false;
};

DataDirectory data_directory(const InstanceRef& instance, const char* name, bool posix_dsm) {
  Text path;
  path.add(instance.dir).add("/").add(name);
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return {};
  return {st.st_dev, st.st_ino, posix_dsm, true};
}

// Removes the System V segments of the instance: created by and belonging
// to the server account, and whose PostgreSQL header names one of the
// instance's data directories. One still attached goes when it is detached
// (a process that just exited keeps its memory, and so the attachment, a
// moment longer while someone reads its /proc entries). For initdb's
// standalone backends (initdb picks POSIX dynamic shared memory; the server
// pgrace launches uses mmap, in its data directory) also the dynamic shared
// memory of the control segment the header names.
void remove_instance_segments(const InstanceRef& instance) {
  const DataDirectory dirs[] = {data_directory(instance, kDataDir, false),
                                data_directory(instance, kTemplateDir, true)};
  const uid_t uid = instance.account.uid;
  shm_info info{};
  const int highest = shmctl(0, SHM_INFO, reinterpret_cast<shmid_ds*>(&info));
  for (int index = 0; index <= highest; ++index) {
    shmid_ds segment{};
    const int id = shmctl(index, SHM_STAT, &segment);
    if (id < 0 || segment.shm_perm.uid != uid || segment.shm_perm.cuid != uid ||
        segment.shm_segsz < sizeof(PgShmemHeader))
      continue;
    void* at = shmat(id, nullptr, SHM_RDONLY);
    if (at == reinterpret_cast<void*>(-1)) continue;
    PgShmemHeader header;
    std::memcpy(&header, at, sizeof header);
    shmdt(at);
    if (header.magic != kPgShmemMagic) continue;
    for (const DataDirectory& dir : dirs) {
      if (!dir.exists || dir.device != header.device || dir.inode != header.inode) continue;
      shmctl(id, IPC_RMID, nullptr);
      if (dir.posix_dsm && header.dsm_control != 0) remove_dynamic_segments(header.dsm_control, uid);
    }
  }
}

// ----------------------------------------------------------------- files

// The child that does everything as the server account: stops the
// processes, removes the segments, then the files it may remove.
[[noreturn]] void tear_down_as_server_account(const InstanceRef& instance) {
  const int devnull = open("/dev/null", O_RDWR);
  for (int fd = 0; fd < 3; ++fd) dup2(devnull, fd);
  close_range(3, ~0U, 0);
  if (chdir("/") != 0 || !become(instance.account)) _exit(1);
  stop_instance_processes(instance);
  remove_instance_segments(instance);
  // The server account may only pass through the instance directory, so
  // it removes its own directories by name.
  Text data, build, socket;
  data.add(instance.dir).add("/").add(kDataDir);
  build.add(instance.dir).add("/").add(kTemplateDir);
  socket.add(instance.dir).add("/").add(kSocketDir);
  execl("/bin/rm", "rm", "-rf", "--", data.c_str(), build.c_str(), socket.c_str(), static_cast<char*>(nullptr));
  _exit(1);
}

}  // namespace

void remove_own_directory(const char* dir) noexcept {
  const int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st {};
  bool all_removed = fstat(fd, &st) == 0 && st.st_uid == geteuid();
  if (all_removed) {
    for_each_entry(fd, [&](const char* name) {
      if (std::strcmp(name, kOwnerLock) == 0) return;
      if (unlinkat(fd, name, 0) != 0 && unlinkat(fd, name, AT_REMOVEDIR) != 0 && errno != ENOENT) all_removed = false;
    });
  }
  if (all_removed) unlinkat(fd, kOwnerLock, 0);
  close(fd);
  if (all_removed) rmdir(dir);
}

InstanceRef make_instance_ref(const std::string& dir, const Account& account) {
  InstanceRef instance;
  if (dir.size() >= sizeof instance.dir) throw infrastructure_error("instance directory path too long: " + dir);
  std::memcpy(instance.dir, dir.c_str(), dir.size() + 1);
  instance.account = account;
  return instance;
}

void remove_instance(const InstanceRef& instance) noexcept {
  const pid_t child = fork();
  if (child == 0) tear_down_as_server_account(instance);
  if (child > 0) {
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
  }
  remove_own_directory(instance.dir);  // what the server account could not remove
}

}  // namespace pgrace::detail
