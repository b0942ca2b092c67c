#include "server/ephemeral_cluster.hpp"

#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "pgrace/error.hpp"
#include "server/base_directory.hpp"
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
                     std::to_string(socket) + " bytes, over the limit of " + std::to_string(kMaxSocketPath) + "; " +
                     fix + "a directory of at most " +
                     std::to_string(path.string().size() - (socket - kMaxSocketPath)) + " bytes, e.g. /dev/shm");
  struct stat st {};
  if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw base.error(base.described() + " is not a directory: create it or " + fix + "an existing directory");
  if (!reachable_by(path, account))
    throw base.error(base.described() + " is not reachable by the account the server runs as (uid " +
                     std::to_string(account.uid) + "): " + fix + "a directory it can enter (e.g. mode 1777 or 0755)");
  return path;
}

// FNV-1a of `bytes`, in hex.
std::string fnv1a(const std::string& bytes) {
  std::uint64_t hash = 1469598103934665603ULL;
  for (unsigned char c : bytes) hash = (hash ^ c) * 1099511628211ULL;
  std::ostringstream hex;
  hex << std::hex << hash;
  return hex.str();
}

// The identity of the installed server build, for the template cache key
// (and of the cache's layout: a template with a manifest).
std::string cache_key(const ServerBinaries& bin, const std::string& initdb_args) {
  struct stat st {};
  stat((bin.bindir / "postgres").c_str(), &st);
  std::ostringstream identity;
  identity << bin.bindir.string() << '|' << st.st_size << '|' << st.st_mtim.tv_sec << '|' << initdb_args << "|manifest";
  return fnv1a(identity.str());
}

// ------------------------------------------------------ the template manifest
//
// A template cluster in the cache lists what it held when pgrace stored it,
// in kManifest: "d PATH" per directory, "f SIZE HASH PATH" per file (HASH of
// the content for files of at most kHashedSize bytes, else "-"). The server
// account can change the cache; pgrace checks it against the list before
// each copy, reading as itself (root, maybe) without following links and
// showing no file's content.

constexpr char kManifest[] = "pgrace-manifest";
constexpr off_t kHashedSize = 8192;  // PG_VERSION, global/pg_control, most catalogs' first segment

// The bytes of the regular file `path` (not a link), at most `limit`; nullopt
// if it is not one or cannot be read.
std::optional<std::string> read_regular_file(const fs::path& path, off_t limit) {
  const int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  std::optional<std::string> bytes;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= limit) {
    bytes.emplace(static_cast<std::size_t>(st.st_size), '\0');
    if (read(fd, bytes->data(), bytes->size()) != static_cast<ssize_t>(bytes->size())) bytes.reset();
  }
  close(fd);
  return bytes;
}

// The manifest of the cluster in `dir`, as it is now.
std::string manifest_of(const fs::path& dir) {
  std::ostringstream manifest;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    const std::string path = entry.path().lexically_relative(dir).string();
    if (entry.is_symlink()) continue;
    if (entry.is_directory()) {
      manifest << "d " << path << "\n";
    } else if (entry.is_regular_file()) {
      const auto size = static_cast<off_t>(entry.file_size());
      const auto content = size <= kHashedSize ? read_regular_file(entry.path(), kHashedSize) : std::nullopt;
      manifest << "f " << size << ' ' << (content ? fnv1a(*content) : "-") << ' ' << path << "\n";
    }
  }
  return manifest.str() + "end\n";
}

// Writes the manifest of the template cluster `dir` into it, as a file of `account`.
void write_manifest(const fs::path& dir, const Account& account) {
  const std::string manifest = manifest_of(dir);
  const fs::path path = dir / kManifest;
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  const bool written = fd >= 0 &&
                       write(fd, manifest.data(), manifest.size()) == static_cast<ssize_t>(manifest.size()) &&
                       (!account.switch_user || fchown(fd, account.uid, account.gid) == 0);
  const int error = errno;
  if (fd >= 0) close(fd);
  if (!written)
    throw infrastructure_error("cannot write the template manifest " + path.string() + ": " + std::strerror(error));
}

// What differs in the entry `line` of a manifest from the cluster in `dir`,
// or "" if nothing does.
std::string entry_defect(const fs::path& dir, const std::string& line) {
  std::istringstream fields(line);
  std::string kind, size, hash, path;
  fields >> kind;
  if (kind == "f") fields >> size >> hash;
  std::getline(fields >> std::ws, path);
  const fs::path relative(path);
  const bool safe = !path.empty() && relative.is_relative() &&
                    std::none_of(relative.begin(), relative.end(), [](const fs::path& p) { return p == ".."; }) &&
                    std::none_of(path.begin(), path.end(), [](unsigned char c) { return c < 0x20 || c == 0x7F; });
  if ((kind != "d" && kind != "f") || !safe) return "its manifest " + std::string(kManifest) + " is garbled";
  struct stat st {};
  if (lstat((dir / relative).c_str(), &st) != 0) return path + " is missing";
  if (kind == "d") return S_ISDIR(st.st_mode) ? "" : path + " is not a directory";
  if (!S_ISREG(st.st_mode)) return path + " is not a regular file";
  if (std::to_string(st.st_size) != size) return path + " has " + std::to_string(st.st_size) + " bytes, not " + size;
  if (hash == "-") return "";
  const auto content = read_regular_file(dir / relative, kHashedSize);
  return content && fnv1a(*content) == hash ? "" : path + " has changed";
}

// Why the template cluster cached in `dir` cannot be copied, or "" if it
// holds what its manifest lists.
std::string template_defect(const fs::path& dir) {
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return "not a directory";
  const auto manifest = read_regular_file(dir / kManifest, 1 << 20);
  if (!manifest) return "its manifest " + std::string(kManifest) + " is missing";
  const std::string end = "\nend\n";
  if (manifest->size() < end.size() || manifest->compare(manifest->size() - end.size(), end.size(), end) != 0)
    return "its manifest " + std::string(kManifest) + " is cut short";
  std::istringstream lines(manifest->substr(0, manifest->size() - end.size()));
  for (std::string line; std::getline(lines, line);)
    if (std::string defect = entry_defect(dir, line); !defect.empty()) return defect;
  return "";
}

void chown_to(const fs::path& path, uid_t uid, gid_t gid) {
  if (chown(path.c_str(), uid, gid) != 0)
    throw infrastructure_error("cannot hand " + path.string() + " to the postgres account: " + std::strerror(errno));
}

// Creates (if needed) the per-account template cache directory and checks
// that nobody else can have planted or changed it.
fs::path ensure_cache_directory(const fs::path& base, const Account& account) {
  fs::path cache = base / ("pgrace-cache-" + std::to_string(account.uid));
  if (mkdir(cache.c_str(), 0700) == 0 && account.switch_user) chown_to(cache, account.uid, account.gid);
  struct stat st {};
  if (lstat(cache.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != account.uid || (st.st_mode & 077) != 0)
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
    discard_if_corrupt(cached);
    if (!fs::exists(fs::symlink_status(cached))) {
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
  const std::vector<std::string> argv = {initdb.string(), "-D",         build.string(), "-U",
                                         "pgrace",        "-A",         "trust",        "-E",
                                         "UTF8",          "--locale=C", "-N",           "--wal-segsize=1"};
  if (int status = run_unless_stopped(argv, {account_, dir_, out, err, true}); status != 0)
    throw infrastructure_error("initdb failed (exit " + std::to_string(status) +
                               "): " + failure_cause(status, initdb, err));
  write_manifest(build, account_);
  // Publish atomically; if another pgrace process was faster, use its copy
  // (ours goes with the instance directory).
  if (rename(build.c_str(), cached.c_str()) != 0 && errno != EEXIST && errno != ENOTEMPTY)
    throw infrastructure_error("cannot store the template cluster in " + cached.string() + ": " + std::strerror(errno));
}

void EphemeralCluster::discard_if_corrupt(const fs::path& cached) {
  struct stat st {};
  if (lstat(cached.c_str(), &st) != 0) return;
  const std::string defect = template_defect(cached);
  if (defect.empty()) return;
  std::cerr << "pgrace: the template cache " << cached.string() << " is corrupt (" << defect << "): rebuilding it"
            << std::endl;
  // Out of the way at once (a pgrace racing us may have done so already),
  // then removed by the account that owns it.
  const fs::path trash = cached.string() + ".corrupt-" + dir_.filename().string();
  if (rename(cached.c_str(), trash.c_str()) != 0) {
    if (errno == ENOENT) return;
    throw infrastructure_error("cannot move the corrupt template cache " + cached.string() +
                               " aside: " + std::strerror(errno) + " (remove it and run again)");
  }
  const std::vector<std::string> argv = {"/bin/rm", "-rf", "--", trash.string()};
  if (run_unless_stopped(argv, {account_, dir_, dir_ / "discard.log", "", true}) != 0)
    throw infrastructure_error("cannot remove the corrupt template cache " + trash.string() + ": " +
                               error_line_of_file(dir_ / "discard.log") + " (remove it and run again)");
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
  const fs::path log = log_file();
  const fs::path socket_dir = dir_ / kSocketDir;
  std::vector<std::string> argv = {
      (bin.bindir / "postgres").string(),
      "-D",
      (dir_ / kDataDir).string(),
      "-c",
      "listen_addresses=",
      "-c",
      "unix_socket_directories=" + socket_dir.string(),
      "-c",
      "unix_socket_permissions=0700",
      "-c",
      "port=" + std::to_string(port),
      "-c",
      "max_connections=" + std::to_string(options.max_connections),
      "-c",
      "deadlock_timeout=" + options.deadlock_timeout,
      "-c",
      "fsync=off",
      "-c",
      "synchronous_commit=off",
      "-c",
      "full_page_writes=off",
      "-c",
      "autovacuum=off",
      "-c",
      "jit=off",
      "-c",
      "dynamic_shared_memory_type=mmap",  // segments live in the data directory, removed with it
      "-c",
      "shared_buffers=64MB",
      "-c",
      "max_wal_size=256MB",
      // The log lines a report keeps (ScenarioResult::server_log): timestamped
      // to the millisecond, naming the session's application and database,
      // with its connections and the lock waits longer than deadlock_timeout.
      "-c",
      "log_line_prefix=%m [%p] %q%a@%d ",
      "-c",
      "log_lock_waits=on",
      "-c",
      "log_connections=on",
  };
  argv.reserve(argv.size() + 2 * options.settings.size());
  for (const auto& [name, value] : options.settings) argv.insert(argv.end(), {"-c", name + "=" + value});
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
        const std::string line = error_line_of_file(log);
        if (!options.settings.empty() && line.find("parameter") != std::string::npos)
          throw usage_error("the ephemeral PostgreSQL server refused a server setting (--server-setting): " + line);
        throw infrastructure_error("the ephemeral PostgreSQL server exited while starting (status " +
                                   std::to_string(*status) + "): " + line);
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

pid_t EphemeralCluster::pid() {
  std::lock_guard lock(stop_mutex_);
  return postmaster_;
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
