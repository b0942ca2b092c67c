#pragma once
// Helpers shared by pgrace's tests: running the pgrace program as a child
// process (with environment overrides, captured output, exit code and elapsed
// time), scoped environment variables, private temporary directories, and
// checks on server processes. Header-only; everything is `inline`.

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace pgrace::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The pgrace program built alongside the tests.
inline std::string pgrace_binary() { return PGRACE_BINARY; }

// tests/specs, beside this file. __FILE__ is relative to the directory the
// compiler ran in when ccache's base_dir rewrites it: the test program's own
// directory, where CMake compiles and links it.
inline fs::path specs_dir() {
  fs::path source(__FILE__);
  if (source.is_relative()) source = fs::read_symlink("/proc/self/exe").parent_path() / source;
  return (source.parent_path() / "specs").lexically_normal();
}

// The bytes of the file at `path` ("" if it cannot be read).
inline std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Environment changes for a child: a value sets the variable, nullopt unsets it.
using EnvOverrides = std::map<std::string, std::optional<std::string>>;

// Sets (or, with nullopt, unsets) an environment variable of this process
// for the scope; restores the previous value on destruction. Not thread-safe
// (the environment is process-wide).
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::optional<std::string>& value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    if (value)
      setenv(name_.c_str(), value->c_str(), 1);
    else
      unsetenv(name_.c_str());
  }
  ~ScopedEnv() {
    if (old_)
      setenv(name_.c_str(), old_->c_str(), 1);
    else
      unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// The account ephemeral servers run as: ourselves, or `postgres` when root.
inline uid_t server_uid() {
  if (geteuid() != 0) return geteuid();
  const passwd* pw = getpwnam("postgres");
  return pw ? pw->pw_uid : 0;
}

// A fresh directory on tmpfs (/dev/shm, else the temp directory), removed (with everything in it) on
// destruction. It is made traversable (0755) so that, when the tests run as
// root, the `postgres` account the server runs as can reach its own
// directories inside it (pgrace needs PGRACE_TMPDIR to be reachable by the
// server account).
class TempDir {
 public:
  TempDir() {
    const fs::path base = access("/dev/shm", W_OK | X_OK) == 0 ? fs::path("/dev/shm") : fs::temp_directory_path();
    std::string pattern = (base / "pgrace-test-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error(std::string("mkdtemp failed: ") + std::strerror(errno));
    path_ = pattern;
    chmod(path_.c_str(), 0755);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);  // as root this removes the postgres-owned files too
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// True when `pid` no longer runs: it does not exist, or is a zombie waiting
// to be reaped by someone else.
inline bool process_gone(pid_t pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content;
  if (!std::getline(stat, content)) return true;
  const auto paren = content.rfind(')');
  return paren != std::string::npos && paren + 2 < content.size() && content[paren + 2] == 'Z';
}

// Polls `condition` every 10 ms until it holds or `timeout` passes; returns
// whether it held.
template <typename Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout = 5000ms) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

// The postmaster's pid from <data directory>/postmaster.pid, or -1.
inline pid_t postmaster_pid(const fs::path& data_directory) {
  std::ifstream in(data_directory / "postmaster.pid");
  long pid = -1;
  if (!(in >> pid)) return -1;
  return static_cast<pid_t>(pid);
}

// A running child process with its stdout and stderr captured through pipes.
// Use from one thread at a time. The destructor SIGKILLs and reaps a child
// that still runs.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const EnvOverrides& env = {}) {
    // Everything the child needs is built before fork.
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) {
      std::string entry = *e;
      if (!env.count(entry.substr(0, entry.find('=')))) env_strings.push_back(entry);
    }
    for (const auto& [name, value] : env)
      if (value) env_strings.push_back(name + "=" + *value);
    std::vector<char*> envp, args;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_copy = argv;
    for (auto& a : argv_copy) args.push_back(a.data());
    args.push_back(nullptr);

    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0)
      throw std::runtime_error(std::string("pipe failed: ") + std::strerror(errno));
    start_ = Clock::now();
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
    if (pid_ == 0) {
      int devnull = open("/dev/null", O_RDONLY);
      dup2(devnull, 0);
      dup2(out[1], 1);
      dup2(err[1], 2);
      execve(args[0], args.data(), envp.data());
      _exit(127);
    }
    close(out[1]);
    close(err[1]);
    out_fd_ = out[0];
    err_fd_ = err[0];
  }

  ~Child() {
    if (!exit_code_) {
      kill(pid_, SIGKILL);
      int status;
      waitpid(pid_, &status, 0);
    }
    if (out_fd_ >= 0) close(out_fd_);
    if (err_fd_ >= 0) close(err_fd_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }
  // Seconds from start to the observed exit (valid after wait() succeeded).
  double seconds() const { return seconds_; }

  // Reads stdout until it holds a line containing `needle` (and its
  // newline), the output ends, or `timeout` passes. Returns whether found.
  bool read_stdout_until(const std::string& needle, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      auto at = out_.find(needle);
      if (at != std::string::npos && out_.find('\n', at) != std::string::npos) return true;
      if (out_fd_ < 0 || Clock::now() > deadline) return false;
      pump(10ms);
    }
  }

  void signal(int sig) { kill(pid_, sig); }

  // Waits for the exit, collecting output. Returns the exit code (128+signal
  // if killed), or nullopt if the child still runs after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!exit_code_) {
      int status = 0;
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        seconds_ = std::chrono::duration<double>(Clock::now() - start_).count();
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      if (Clock::now() > deadline) return std::nullopt;
      pump(5ms);
    }
    // Drain what is left; grandchildren do not hold our pipes, but do not
    // hang forever if one did.
    const auto drain_deadline = Clock::now() + 2s;
    while ((out_fd_ >= 0 || err_fd_ >= 0) && Clock::now() < drain_deadline) pump(10ms);
    return exit_code_;
  }

 private:
  // Reads whatever is available within `timeout`.
  void pump(std::chrono::milliseconds timeout) {
    pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
    if (out_fd_ < 0 && err_fd_ < 0) {
      std::this_thread::sleep_for(timeout);
      return;
    }
    if (poll(fds, 2, static_cast<int>(timeout.count())) <= 0) return;
    read_from(fds[0], out_fd_, out_);
    read_from(fds[1], err_fd_, err_);
  }

  static void read_from(const pollfd& p, int& fd, std::string& into) {
    if (fd < 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR))) return;
    char buffer[4096];
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n > 0) {
      into.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      close(fd);
      fd = -1;
    }
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_, err_;
  Clock::time_point start_;
  std::optional<int> exit_code_;
  double seconds_ = 0;
};

// What a finished run of a program produced.
struct RunResult {
  int exit_code = -1;  // 128+signal if killed; -1 if it timed out (then it was killed)
  std::string out;
  std::string err;
  double seconds = 0;  // wall time from start to exit
};

// Runs argv[0] (an absolute path) with `env` applied on top of this
// process's environment, waits up to `timeout`, captures everything.
inline RunResult run(const std::vector<std::string>& argv, const EnvOverrides& env = {},
                     std::chrono::milliseconds timeout = 120s) {
  Child child(argv, env);
  RunResult result;
  if (auto code = child.wait(timeout)) {
    result.exit_code = *code;
    result.seconds = child.seconds();
  } else {
    result.seconds = std::chrono::duration<double>(timeout).count();
  }
  result.out = child.out();
  result.err = child.err();
  return result;
}

// Runs the pgrace program with `args`.
inline RunResult run_pgrace(const std::vector<std::string>& args, const EnvOverrides& env = {},
                            std::chrono::milliseconds timeout = 120s) {
  std::vector<std::string> argv = {pgrace_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, env, timeout);
}

// The environment without any DSN, so pgrace starts an ephemeral server.
inline EnvOverrides without_dsn(EnvOverrides env = {}) {
  env.emplace("PGRACE_DSN", std::nullopt);
  env.emplace("DATABASE_URL", std::nullopt);
  return env;
}

}  // namespace pgrace::test
