#include "process.hpp"

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

// Writes the decimal form of `value` into `out` (async-signal-safe).
void format_pid(pid_t value, char* out) {
  char digits[16];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value > 0);
  while (n > 0) *out++ = digits[--n];
  *out = '\0';
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
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

pid_t spawn(const std::vector<std::string>& argv, const SpawnOptions& options) {
  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls are allowed.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const std::string log = options.log.string();
  const std::string marker_dir = options.pid_marker_dir.string();
  std::string marker_buffer(marker_dir.size() + 24, '\0');

  pid_t pid = fork();
  if (pid < 0) throw infrastructure_error(std::string("fork failed: ") + std::strerror(errno));
  if (pid > 0) return pid;

  // Child.
  if (options.own_process_group) setpgid(0, 0);
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) dup2(devnull, 0);
  int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (out >= 0) {
    dup2(out, 1);
    dup2(out, 2);
  }
  close_range(3, ~0U, 0);
  if (!marker_dir.empty()) {
    char* p = marker_buffer.data();
    std::memcpy(p, marker_dir.data(), marker_dir.size());
    p[marker_dir.size()] = '/';
    format_pid(getpid(), p + marker_dir.size() + 1);
    int fd = open(p, O_WRONLY | O_CREAT, 0600);
    if (fd >= 0) close(fd);
  }
  if (options.account.switch_user) {
    if (setgroups(1, &options.account.gid) != 0 || setgid(options.account.gid) != 0 ||
        setuid(options.account.uid) != 0) {
      const char msg[] = "pgrace: could not switch to the server account\n";
      (void)!write(2, msg, sizeof msg - 1);
      _exit(126);
    }
  }
  execv(args[0], args.data());
  const char msg[] = "pgrace: exec failed\n";
  (void)!write(2, msg, sizeof msg - 1);
  _exit(127);
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

int run(const std::vector<std::string>& argv, const SpawnOptions& options) {
  return wait_for_exit(spawn(argv, options));
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

}  // namespace pgrace::detail
