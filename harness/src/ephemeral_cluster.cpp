#include "ephemeral_cluster.hpp"

#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "pgrace/error.hpp"
#include "termination.hpp"

namespace fs = std::filesystem;

namespace pgrace::detail {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

bool has_server_programs(const fs::path& dir) {
  return access((dir / "postgres").c_str(), X_OK) == 0 && access((dir / "initdb").c_str(), X_OK) == 0;
}

// The directory for server data and the template cache: $PGRACE_TMPDIR, else
// tmpfs when we may write there.
fs::path base_directory() {
  if (const char* dir = std::getenv("PGRACE_TMPDIR"); dir && *dir) return dir;
  if (access("/dev/shm", W_OK | X_OK) == 0) return "/dev/shm";
  if (const char* tmp = std::getenv("TMPDIR"); tmp && *tmp) return tmp;
  return "/tmp";
}

// The identity of the installed server build, for the template cache key.
std::string cache_key(const ServerBinaries& bin, const std::string& initdb_args) {
  struct stat st {};
  stat((bin.bindir / "postgres").c_str(), &st);
  std::ostringstream identity;
  identity << bin.bindir.string() << '|' << st.st_size << '|' << st.st_mtim.tv_sec << '|' << initdb_args;
  std::uint64_t hash = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : identity.str()) hash = (hash ^ c) * 1099511628211ULL;
  std::ostringstream name;
  name << std::hex << hash;
  return name.str();
}

// Whether `account` may enter and write into `dir` (the server's account
// creates its data directory there).
bool reachable_by(const fs::path& dir, const Account& account) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  if (!account.switch_user) return access(dir.c_str(), W_OK | X_OK) == 0;
  return (st.st_mode & S_IXOTH) || (st.st_uid == account.uid) || (st.st_gid == account.gid && (st.st_mode & S_IXGRP));
}

void chown_to(const fs::path& path, const Account& account) {
  if (account.switch_user && chown(path.c_str(), account.uid, account.gid) != 0)
    throw infrastructure_error("cannot hand " + path.string() + " to the postgres account: " +
                               std::strerror(errno));
}

// Creates (if needed) the per-account template cache directory and checks
// that nobody else can have planted or changed it.
fs::path ensure_cache_directory(const fs::path& base, const Account& account) {
  fs::path cache = base / ("pgrace-cache-" + std::to_string(account.uid));
  if (mkdir(cache.c_str(), 0700) == 0) chown_to(cache, account);
  struct stat st {};
  if (lstat(cache.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != account.uid ||
      (st.st_mode & 077) != 0)
    throw infrastructure_error("unsafe template cache " + cache.string() +
                               " (not a private directory of the server account): remove it and "
                               "run again");
  return cache;
}

const char* const kWatchdogScript = R"(
dir=$1
read -r _ <&3
exec 3<&-
[ -d "$dir" ] || exit 0
pids() { for f in "$dir"/pids/*; do [ -e "$f" ] && echo "${f##*/}"; done; }
alive() { [ -r "/proc/$1/stat" ] && ! sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | grep -q '^Z'; }
for p in $(pids); do kill -QUIT -- "-$p" 2>/dev/null; kill -QUIT "$p" 2>/dev/null; done
n=0
while [ $n -lt 200 ]; do
  any=
  for p in $(pids); do alive "$p" && any=1; done
  [ -z "$any" ] && break
  sleep 0.05
  n=$((n + 1))
done
for p in $(pids); do kill -KILL -- "-$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
shmid=$(sed -n 7p "$dir/data/postmaster.pid" 2>/dev/null | awk '{print $2}')
[ -n "$shmid" ] && ipcrm -m "$shmid" 2>/dev/null
rm -rf "$dir"
)";

// Runs a program to completion as the server account, with its pid marked
// for the watchdog while it runs. Returns its exit status.
int run_marked(const std::vector<std::string>& argv, const Account& account, const fs::path& dir,
               const fs::path& log) {
  pid_t pid = spawn(argv, {account, log, dir / "pids", false});
  int status = wait_for_exit(pid);
  fs::remove(dir / "pids" / std::to_string(pid));
  return status;
}

// The id of the postmaster's System V interlock segment (line 7 of
// postmaster.pid: key and id), or -1.
int interlock_segment(const fs::path& data) {
  std::ifstream pid_file(data / "postmaster.pid");
  std::string line;
  for (int i = 0; i < 7 && std::getline(pid_file, line); ++i) {
  }
  std::istringstream fields(line);
  long key = 0;
  int id = -1;
  return fields >> key >> id ? id : -1;
}

// A postmaster that died abruptly (SIGKILL) leaves its interlock segment
// behind; removes it if the server account owns it and nothing is attached.
void remove_orphaned_segment(int shmid, const Account& account) {
  shmid_ds info {};
  if (shmid < 0 || shmctl(shmid, IPC_STAT, &info) != 0) return;  // gone: a clean shutdown removed it
  if (info.shm_perm.uid == account.uid && info.shm_nattch == 0) shmctl(shmid, IPC_RMID, nullptr);
}

}  // namespace

ServerBinaries find_server_binaries() {
  if (const char* dir = std::getenv("PGRACE_PG_BINDIR"); dir && *dir) {
    if (!has_server_programs(dir))
      throw infrastructure_error(std::string("PGRACE_PG_BINDIR=") + dir +
                                 " has no postgres and initdb programs: point it at a PostgreSQL "
                                 "server's bin directory or unset it");
    return {dir, ""};
  }
  std::vector<std::pair<int, fs::path>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    if (has_server_programs(entry.path() / "bin")) found.emplace_back(std::stoi(name), entry.path() / "bin");
  }
  if (!found.empty()) return {std::max_element(found.begin(), found.end())->second, ""};
  if (const char* path = std::getenv("PATH")) {
    std::stringstream dirs(path);
    for (std::string dir; std::getline(dirs, dir, ':');)
      if (!dir.empty() && has_server_programs(dir)) return {dir, ""};
  }
  throw infrastructure_error(
      "no PostgreSQL server installed (no postgres/initdb under /usr/lib/postgresql/*/bin or on "
      "PATH): install it with 'apt-get install postgresql', or pass --dsn to use a running server");
}

EphemeralCluster::EphemeralCluster(const EphemeralServerOptions& options) {
  const auto start = Clock::now();
  const ServerBinaries bin = find_server_binaries();
  account_ = server_account();
  const fs::path base = base_directory();
  if (!reachable_by(base, account_))
    throw infrastructure_error(base.string() + " is not reachable by the account the server runs as (uid " +
                               std::to_string(account_.uid) +
                               "): point PGRACE_TMPDIR at a directory it can enter (e.g. mode 1777 or 0755)");

  std::string pattern = (base / "pgrace-XXXXXX").string();
  if (!mkdtemp(pattern.data()))
    throw infrastructure_error("cannot create a private directory under " + base.string() + ": " +
                               std::strerror(errno));
  dir_ = pattern;
  cleanup_handle_ = register_cleanup([this] { stop(); });
  try {
    chown_to(dir_, account_);
    fs::create_directory(dir_ / "pids");
    start_watchdog();

    const std::string initdb_args = "-U pgrace -A trust -E UTF8 --locale=C -N --wal-segsize=1";
    const fs::path cached = ensure_cache_directory(base, account_) / ("pg-" + cache_key(bin, initdb_args));
    if (!fs::exists(cached)) {
      const auto initdb_start = Clock::now();
      fill_template_cache(bin, cached);
      timings_.initdb_ms = ms_since(initdb_start);
    } else {
      timings_.cache_hit = true;
    }
    const auto copy_start = Clock::now();
    if (run_marked({"/bin/cp", "-a", cached.string(), (dir_ / "data").string()}, account_, dir_,
                   dir_ / "server.log") != 0)
      throw infrastructure_error("cannot copy the template cluster " + cached.string() + ": " +
                                 tail_of_file(dir_ / "server.log", 3));
    timings_.copy_ms = ms_since(copy_start);
    launch(bin, options);
  } catch (...) {
    unregister_cleanup(cleanup_handle_);
    stop();
    throw;
  }
  timings_.total_ms = ms_since(start);
}

EphemeralCluster::~EphemeralCluster() {
  unregister_cleanup(cleanup_handle_);
  stop();
}

void EphemeralCluster::start_watchdog() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    throw infrastructure_error(std::string("pipe failed: ") + std::strerror(errno));
  const std::string dir = dir_.string();
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    throw infrastructure_error(std::string("fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // The watchdog: waits for the pipe to close (we exited, however we died),
    // then stops the server and removes its directory.
    if (fds[0] == 3) fcntl(3, F_SETFD, 0);
    else dup2(fds[0], 3);
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
    close_range(4, ~0U, 0);
    setsid();
    execl("/bin/sh", "sh", "-c", kWatchdogScript, "pgrace-watchdog", dir.c_str(), nullptr);
    _exit(127);
  }
  close(fds[0]);
  watchdog_ = pid;
  watchdog_pipe_ = fds[1];
}

void EphemeralCluster::fill_template_cache(const ServerBinaries& bin, const fs::path& cached) {
  const fs::path build = dir_ / "template";
  const fs::path log = dir_ / "initdb.log";
  std::vector<std::string> argv = {(bin.bindir / "initdb").string(), "-D", build.string(),
                                   "-U",  "pgrace", "-A", "trust", "-E", "UTF8", "--locale=C",
                                   "-N",  "--wal-segsize=1"};
  if (int status = run_marked(argv, account_, dir_, log); status != 0)
    throw infrastructure_error("initdb failed (exit " + std::to_string(status) + "): " +
                               tail_of_file(log, 5));
  // Publish atomically; if another pgrace process was faster, use its copy.
  if (rename(build.c_str(), cached.c_str()) != 0) {
    if (errno != EEXIST && errno != ENOTEMPTY)
      throw infrastructure_error("cannot store the template cluster in " + cached.string() + ": " +
                                 std::strerror(errno));
    fs::remove_all(build);
  }
}

void EphemeralCluster::launch(const ServerBinaries& bin, const EphemeralServerOptions& options) {
  std::random_device random;
  const int port = 20000 + static_cast<int>(random() % 40000);  // names the socket; no TCP
  const fs::path log = dir_ / "server.log";
  std::vector<std::string> argv = {
      (bin.bindir / "postgres").string(),
      "-D", (dir_ / "data").string(),
      "-c", "listen_addresses=",
      "-c", "unix_socket_directories=" + dir_.string(),
      "-c", "unix_socket_permissions=0700",
      "-c", "port=" + std::to_string(port),
      "-c", "max_connections=" + std::to_string(options.max_connections),
      "-c", "deadlock_timeout=" + options.deadlock_timeout,
      "-c", "fsync=off",
      "-c", "synchronous_commit=off",
      "-c", "full_page_writes=off",
      "-c", "autovacuum=off",
      "-c", "jit=off",
      "-c", "dynamic_shared_memory_type=mmap",  // segments live in the data directory, removed with it
      "-c", "shared_buffers=64MB",
      "-c", "max_wal_size=256MB",
  };
  const auto launch_start = Clock::now();
  postmaster_ = spawn(argv, {account_, log, dir_ / "pids", true});
  dsn_ = "host='" + dir_.string() + "' port=" + std::to_string(port) + " user=pgrace dbname=postgres";

  const auto deadline = launch_start + options.ready_timeout;
  while (PQping(dsn_.c_str()) != PQPING_OK) {
    if (auto status = poll_exit(postmaster_)) {
      fs::remove(dir_ / "pids" / std::to_string(postmaster_));
      postmaster_ = -1;
      throw infrastructure_error("the ephemeral PostgreSQL server exited while starting (status " +
                                 std::to_string(*status) + "); its log ends with: " +
                                 tail_of_file(log, 10));
    }
    if (Clock::now() > deadline)
      throw infrastructure_error("the ephemeral PostgreSQL server did not accept connections within " +
                                 std::to_string(options.ready_timeout.count()) +
                                 " ms; its log ends with: " + tail_of_file(log, 10));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  timings_.start_ms = ms_since(launch_start);
}

void EphemeralCluster::stop() noexcept {
  std::lock_guard lock(stop_mutex_);
  if (stopped_) return;
  stopped_ = true;
  const int shmid = interlock_segment(dir_ / "data");
  if (postmaster_ > 0) terminate_and_reap(postmaster_, SIGQUIT, std::chrono::seconds(10));
  remove_orphaned_segment(shmid, account_);
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
  if (watchdog_pipe_ >= 0) close(watchdog_pipe_);
  if (watchdog_ > 0) wait_for_exit(watchdog_);
}

}  // namespace pgrace::detail
