#include "server/process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <thread>

#include "pgrace/error.hpp"

namespace pgrace::detail {
namespace {

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// In the child between fork and exec: only async-signal-safe calls.
[[noreturn]] void exec_child(char* const* args, const char* cwd, const char* log, const char* err_log,
                             const SpawnOptions& options) {
  if (options.own_process_group) setpgid(0, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);  // pgrace blocks termination signals in its threads
  signal(SIGPIPE, SIG_DFL);
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) dup2(devnull, 0);
  const int flags = O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW;
  int out = open(log, flags, 0600);
  if (out >= 0) dup2(out, 1);
  int err = *err_log ? open(err_log, flags, 0600) : out;
  if (err >= 0) dup2(err, 2);
  // fd 3 is the pipe that closes on exec (see spawn); everything else goes.
  close_range(4, ~0U, 0);
  if (!become(options.account) || chdir(cwd) != 0) _exit(126);
  execv(args[0], args);
  _exit(127);
}

}  // namespace

Account server_account() {
  if (geteuid() != 0) return Account{geteuid(), getegid(), false};
  const passwd* pw = getpwnam("postgres");
  if (!pw)
    throw infrastructure_error(
        "pgrace runs as root, PostgreSQL refuses to, and there is no 'postgres' account to run "
        "it as: install the postgresql package (it creates the account) or run pgrace as an "
        "unprivileged user");
  return Account{pw->pw_uid, pw->pw_gid, true};
}

bool become(const Account& account) noexcept {
  if (!account.switch_user) return true;
  return setgroups(1, &account.gid) == 0 && setgid(account.gid) == 0 && setuid(account.uid) == 0;
}

pid_t spawn(const std::vector<std::string>& argv, const SpawnOptions& options) {
  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls are allowed.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const std::string cwd = options.cwd.empty() ? "/" : options.cwd.string();
  const std::string log = options.log.string();
  const std::string err_log = options.err_log.string();
  // Its write end closes when the child execs (or exits): then the child is
  // in its working directory, where the watchdog looks for it.
  int exec_pipe[2];
  if (pipe2(exec_pipe, O_CLOEXEC) != 0) throw infrastructure_error(std::string("pipe failed: ") + std::strerror(errno));

  pid_t pid = fork();
  if (pid < 0) {
    close(exec_pipe[0]);
    close(exec_pipe[1]);
    throw infrastructure_error(std::string("fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) {
    if (dup2(exec_pipe[1], 3) == 3) fcntl(3, F_SETFD, FD_CLOEXEC);
    exec_child(args.data(), cwd.c_str(), log.c_str(), err_log.c_str(), options);
  }
  close(exec_pipe[1]);
  char byte;
  while (read(exec_pipe[0], &byte, 1) < 0 && errno == EINTR) {
  }
  close(exec_pipe[0]);
  return pid;
}

int wait_for_exit(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return decode_status(status);
}

std::optional<int> poll_exit(pid_t pid) {
  int status = 0;
  pid_t r = waitpid(pid, &status, WNOHANG);
  if (r == 0) return std::nullopt;
  if (r < 0) return -1;
  return decode_status(status);
}

void terminate_and_reap(pid_t pid, int sig, std::chrono::milliseconds grace) {
  kill(pid, sig);
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (poll_exit(pid)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  kill(pid, SIGKILL);
  wait_for_exit(pid);
}

std::string tail_of_file(const std::filesystem::path& path, int lines) {
  std::ifstream in(path);
  std::deque<std::string> last;
  for (std::string line; std::getline(in, line);) {
    last.push_back(line);
    if (static_cast<int>(last.size()) > lines) last.pop_front();
  }
  std::string out;
  for (const auto& l : last) out += (out.empty() ? "" : " | ") + l;
  return out;
}

std::string error_line_of_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string last;
  for (std::string line; std::getline(in, line);) {
    for (const char* level : {"PANIC:", "FATAL:", "ERROR:"})
      if (auto at = line.find(level); at != std::string::npos) return line.substr(at);
    if (line.find("error:") != std::string::npos) return line;
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  }
  return last;
}

}  // namespace pgrace::detail
