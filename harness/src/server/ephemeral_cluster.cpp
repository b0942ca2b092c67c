#include "server/ephemeral_cluster.hpp"

#include <libpq-fe.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <thread>

#include "server/base_directory.hpp"
#include "pgrace/error.hpp"
#include "server/termination.hpp"

namespace fs = std::filesystem;

namespace pgrace::detail {
namespace {

using Clock = std::chrono::steady_clock;

// The server's port only names its socket (no TCP): five digits, always.
constexpr int kFirstPort = 20000;
constexpr int kLastPort = 59999;
// A unix socket path is at most 107 bytes (sun_path holds 108 with the NUL).
constexpr std::size_t kMaxSocketPath = 107;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

bool has_server_programs(const fs::path& dir) {
  return access((dir / "postgres").c_str(), X_OK) == 0 && access((dir / "initdb").c_str(), X_OK) == 0;
}

fs::path socket_file(const fs::path& instance, int port) {
  return instance / kSocketDir / (".s.PGSQL." + std::to_string(port));
}

// Whether `account` may enter `dir` (the server's account reaches its
// directories and the template cache through it).
bool reachable_by(const fs::path& dir, const Account& account) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  if (!account.switch_user) return access(dir.c_str(), W_OK | X_OK) == 0;
  return (st.st_mode & S_IXOTH) || (st.st_uid == account.uid) || (st.st_gid == account.gid && (st.st_mode & S_IXGRP));
}

// Checks the base directory before anything is made in it; returns it
// normalised (no trailing slash), as the server will see it.
fs::path checked_base_directory(const BaseDirectory& base, const Account& account) {
  const std::string fix = "set PGRACE_TMPDIR to ";
  if (!base.path.is_absolute())
    throw base.error(base.described() + " is not an absolute path: " + fix + "an absolute directory, e.g. /dev/shm");
  fs::path path = base.path.lexically_normal();
  if (path.filename().empty() && path.has_relative_path()) path = path.parent_path();
  const std::size_t socket = socket_file(path / "pgrace-XXXXXX", kLastPort).string().size();
  if (socket > kMaxSocketPath)
    throw base.error(base.described() + " is too long: the server's unix socket path under it would be " +
                     std::to_string(socket) + " bytes, over the limit of " + std::to_string(kMaxSocketPath) +
                     "; " + fix + "a directory of at most " +
                     std::to_string(path.string().size() - (socket - kMaxSocketPath)) + " bytes, e.g. /dev/shm");
  struct stat st {};
  if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw base.error(base.described() + " is not a directory: create it or " + fix + "an existing directory");
  if (!reachable_by(path, account))
    throw base.error(base.described() + " is not reachable by the account the server runs as (uid " +
                     std::to_string(account.uid) + "): " + fix + "a directory it can enter (e.g. mode 1777 or 0755)");
  return path;
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

void chown_to(const fs::path& path, uid_t uid, gid_t gid) {
  if (chown(path.c_str(), uid, gid) != 0)
    throw infrastructure_error("cannot hand " + path.string() + " to the postgres account: " +
                               std::strerror(errno));
}

// Creates (if needed) the per-account template cache directory and checks
// that nobody else can have planted or changed it.
fs::path ensure_cache_directory(const fs::path& base, const Account& account) {
  fs::path cache = base / ("pgrace-cache-" + std::to_string(account.uid));
  if (mkdir(cache.c_str(), 0700) == 0 && account.switch_user) chown_to(cache, account.uid, account.gid);
  struct stat st {};
  if (lstat(cache.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != account.uid ||
      (st.st_mode & 077) != 0)
    throw infrastructure_error("unsafe template cache " + cache.string() +
                               " (not a private directory of the server account): remove it and "
                               "run again");
  return cache;
}

// Why a program run as the server account failed, in one line.
std::string failure_cause(int status, const fs::path& program, const fs::path& err) {
  if (status == 126) return "could not switch to the server account or enter its directory";
  if (status == 127) return "could not execute " + program.string();
  const std::string cause = error_line_of_file(err);
  return cause.empty() ? program.filename().string() + " printed no error" : cause;
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
  const BaseDirectory chosen = base_directory();
  account_ = server_account();
  const fs::path base = checked_base_directory(chosen, account_);
  const ServerBinaries bin = find_server_binaries();
  reap_orphaned_instances(base, account_);
  create_instance(base);
  try {
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
    copy_template(cached);
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

// The instance directory belongs to us (so the server account cannot replace
// what is in it): owner.lock, logs, and the server account's directories.
void EphemeralCluster::create_instance(const fs::path& base) {
  std::string pattern = (base / "pgrace-XXXXXX").string();
  if (!mkdtemp(pattern.data()))
    throw infrastructure_error("cannot create a private directory under " + base.string() + ": " +
                               std::strerror(errno));
  dir_ = pattern;
  instance_ = make_instance_ref(dir_.string(), account_);
  try {
    lock_fd_ = lock_instance(dir_);
  } catch (...) {
    remove_instance(instance_);
    throw;
  }
  try {
    watchdog_ = start_watchdog(instance_, lock_fd_);
    cleanup_handle_ = register_cleanup([this] { stop(); });
    if (account_.switch_user) {  // the server account may only pass through
      chown_to(dir_, geteuid(), account_.gid);
      chmod(dir_.c_str(), 0710);
    }
    make_server_directory(kDataDir);
    make_server_directory(kSocketDir);
  } catch (...) {
    unregister_cleanup(cleanup_handle_);
    stop();
    throw;
  }
}

void EphemeralCluster::make_server_directory(const char* name) {
  const fs::path path = dir_ / name;
  if (mkdir(path.c_str(), 0700) != 0)
    throw infrastructure_error("cannot create " + path.string() + ": " + std::strerror(errno));
  if (account_.switch_user) chown_to(path, account_.uid, account_.gid);
}

pid_t EphemeralCluster::spawn_unless_stopped(const std::vector<std::string>& argv, const SpawnOptions& options) {
  std::lock_guard lock(stop_mutex_);
  if (stopped_) await_termination();
  return spawn(argv, options);
}

int EphemeralCluster::run_unless_stopped(const std::vector<std::string>& argv, const SpawnOptions& options) {
  const int status = wait_for_exit(spawn_unless_stopped(argv, options));
  std::lock_guard lock(stop_mutex_);
  if (stopped_) await_termination();  // it failed because stop() ended it
  return status;
}

void EphemeralCluster::fill_template_cache(const ServerBinaries& bin, const fs::path& cached) {
  make_server_directory(kTemplateDir);
  const fs::path build = dir_ / kTemplateDir;
  const fs::path out = dir_ / "initdb.log", err = dir_ / "initdb.err";
  const fs::path initdb = bin.bindir / "initdb";
  const std::vector<std::string> argv = {initdb.string(), "-D", build.string(), "-U", "pgrace", "-A", "trust",
                                         "-E", "UTF8", "--locale=C", "-N", "--wal-segsize=1"};
  if (int status = run_unless_stopped(argv, {account_, dir_, out, err, true}); status != 0)
    throw infrastructure_error("initdb failed (exit " + std::to_string(status) +
                               "): " + failure_cause(status, initdb, err));
  // Publish atomically; if another pgrace process was faster, use its copy
  // (ours goes with the instance directory).
  if (rename(build.c_str(), cached.c_str()) != 0 && errno != EEXIST && errno != ENOTEMPTY)
    throw infrastructure_error("cannot store the template cluster in " + cached.string() + ": " +
                               std::strerror(errno));
}

void EphemeralCluster::copy_template(const fs::path& cached) {
  const fs::path out = dir_ / "copy.log";
  const std::vector<std::string> argv = {"/bin/cp", "-a", (cached / ".").string(), (dir_ / kDataDir).string()};
  if (int status = run_unless_stopped(argv, {account_, dir_, out, "", true}); status != 0)
    throw infrastructure_error("cannot copy the template cluster " + cached.string() + ": " +
                               failure_cause(status, argv[0], out));
}

void EphemeralCluster::launch(const ServerBinaries& bin, const EphemeralServerOptions& options) {
  std::random_device random;
  const int port = kFirstPort + static_cast<int>(random() % (kLastPort - kFirstPort + 1));
  const fs::path log = dir_ / "server.log";
  const fs::path socket_dir = dir_ / kSocketDir;
  const std::vector<std::string> argv = {
      (bin.bindir / "postgres").string(),
      "-D", (dir_ / kDataDir).string(),
      "-c", "listen_addresses=",
      "-c", "unix_socket_directories=" + socket_dir.string(),
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
  const pid_t postmaster = spawn_unless_stopped(argv, {account_, dir_, log, "", true});
  {
    std::lock_guard lock(stop_mutex_);
    postmaster_ = postmaster;
  }
  dsn_ = "host='" + socket_dir.string() + "' port=" + std::to_string(port) + " user=pgrace dbname=postgres";

  const auto deadline = launch_start + options.ready_timeout;
  while (PQping(dsn_.c_str()) != PQPING_OK) {
    {
      std::lock_guard lock(stop_mutex_);
      if (stopped_) await_termination();
      if (auto status = poll_exit(postmaster_)) {
        postmaster_ = -1;
        throw infrastructure_error("the ephemeral PostgreSQL server exited while starting (status " +
                                   std::to_string(*status) + "): " + error_line_of_file(log));
      }
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
  if (stopped_ || dir_.empty()) return;
  stopped_ = true;
  // Our own child: an immediate shutdown, which removes its shared memory.
  if (postmaster_ > 0) terminate_and_reap(postmaster_, SIGQUIT, std::chrono::seconds(10));
  postmaster_ = -1;
  // Whatever else runs there (initdb, cp, backends of a postmaster that was
  // killed), what it left in shared memory, and the files.
  remove_instance(instance_);
  if (watchdog_.pipe >= 0) close(watchdog_.pipe);
  if (watchdog_.pid > 0) wait_for_exit(watchdog_.pid);
  if (lock_fd_ >= 0) close(lock_fd_);
}

}  // namespace pgrace::detail
