#include "files/worker_processes.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "pgrace/error.hpp"
#include "server/process.hpp"
#include "server/termination.hpp"

extern char** environ;

namespace pgrace::files {
namespace {

namespace fs = std::filesystem;

// How many lines of a worker's output a failure quotes.
constexpr int kTailLines = 5;

// Whether some process of group `group` still runs (a zombie has ended).
bool group_runs(pid_t group) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(line.substr(close + 1));
    char state = 0;
    long parent = 0, process_group = 0;
    if (fields >> state >> parent >> process_group && process_group == group && state != 'Z') return true;
  }
  return false;
}

// Kills process group `group` and returns once none of it runs (at most a
// few seconds: SIGKILL cannot be ignored), so that no worker, nor what it
// started, outlives pgrace.
void kill_group(pid_t group) noexcept {
  kill(-group, SIGKILL);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (group_runs(group) && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

bool executable(const fs::path& path) { return fs::is_regular_file(path) && access(path.c_str(), X_OK) == 0; }

std::optional<fs::path> find_program(const std::string& name, const fs::path& folder) {
  if (name.find('/') != std::string::npos) {
    const fs::path path = fs::path(name).is_absolute() ? fs::path(name) : folder / name;
    return executable(path) ? std::optional<fs::path>(path) : std::nullopt;
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (std::size_t start = 0; start <= dirs.size();) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const fs::path candidate = fs::path(dirs.substr(start, end - start)) / name;
    if (executable(candidate)) return candidate;
    start = end + 1;
  }
  return std::nullopt;
}

fs::path private_directory() {
  std::string pattern = (fs::temp_directory_path() / "pgrace-workers-XXXXXX").string();
  if (!mkdtemp(pattern.data()))
    throw Error(ExitCode::infrastructure, "cannot make a directory for the workers' output under " +
                                              fs::temp_directory_path().string() + ": " + std::strerror(errno));
  return pattern;
}

// "KEY=value" strings of pgrace's environment with `extra` replacing or adding keys.
std::vector<std::string> environment_with(const WorkerProcesses::Environment& extra) {
  std::vector<std::string> entries;
  for (char** e = environ; *e; ++e) {
    const std::string entry(*e);
    if (!extra.count(entry.substr(0, entry.find('=')))) entries.push_back(entry);
  }
  for (const auto& [key, value] : extra) entries.push_back(key + "=" + value);
  return entries;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> result;
  for (auto& s : strings) result.push_back(s.data());
  result.push_back(nullptr);
  return result;
}

// The child's side of fork(): only async-signal-safe calls.
[[noreturn]] void become_worker(const char* program, char** argv, char** envp, const char* folder, int output,
                                int stdout_fd) {
  setpgid(0, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD}) signal(sig, SIG_DFL);
  const int in = open("/dev/null", O_RDONLY);
  if (in < 0 || dup2(in, 0) < 0 || dup2(stdout_fd >= 0 ? stdout_fd : output, 1) < 0 || dup2(output, 2) < 0 ||
      chdir(folder) != 0)
    _exit(126);
  execve(program, argv, envp);
  _exit(127);
}

}  // namespace

void require_program(const std::vector<std::string>& command, const fs::path& folder, const std::string& file,
                     const std::string& key) {
  if (find_program(command.at(0), folder)) return;
  throw usage_error(file + ": key '" + key + "' runs '" + command[0] + "', which is " +
                    (command[0].find('/') != std::string::npos
                         ? "no executable file (relative to " + folder.string() + ")"
                         : "not found on PATH") +
                    ": install it or give its path");
}

WorkerProcesses::WorkerProcesses(const std::vector<std::string>& command, const fs::path& folder, int count,
                                 const std::function<Environment(int)>& environment, int stdout_fd)
    : directory_(private_directory()), exits_(static_cast<std::size_t>(count)) {
  const auto program = find_program(command.at(0), folder);
  if (!program) throw usage_error("the worker program '" + command[0] + "' is gone");
  std::vector<std::string> argv = command;
  std::vector<char*> argv_pointers = pointers(argv);
  try {
    for (int w = 0; w < count; ++w) {
      std::vector<std::string> env = environment_with(environment(w));
      std::vector<char*> env_pointers = pointers(env);
      const int output = open(output_of(w).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (output < 0) throw Error(ExitCode::infrastructure, "cannot create " + output_of(w).string());
      const pid_t pid = fork();
      if (pid == 0)
        become_worker(program->c_str(), argv_pointers.data(), env_pointers.data(), folder.c_str(), output, stdout_fd);
      close(output);
      if (pid < 0)
        throw Error(ExitCode::infrastructure, std::string("cannot start a worker: fork: ") + std::strerror(errno));
      setpgid(pid, pid);
      pids_.push_back(pid);
    }
  } catch (...) {
    kill_all();
    std::error_code ignored;
    fs::remove_all(directory_, ignored);
    throw;
  }
  cleanup_ = detail::register_cleanup([groups = pids_, directory = directory_] {
    for (pid_t pid : groups) kill(-pid, SIGKILL);
    for (pid_t pid : groups) kill_group(pid);
    std::error_code ignored;
    fs::remove_all(directory, ignored);  // the destructor never runs: the process is ending
  });
}

WorkerProcesses::~WorkerProcesses() {
  kill_all();
  if (cleanup_ >= 0) detail::unregister_cleanup(cleanup_);
  std::error_code ignored;
  fs::remove_all(directory_, ignored);
}

fs::path WorkerProcesses::output_of(int w) const { return directory_ / ("worker-" + std::to_string(w + 1) + ".log"); }

void WorkerProcesses::kill_all() noexcept {
  for (pid_t& pid : pids_) {
    if (pid == 0) continue;
    kill(-pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    kill_group(pid);  // what it started itself
    pid = 0;
  }
}

bool WorkerProcesses::wait(std::chrono::steady_clock::time_point deadline, const std::function<void(int)>& on_exit) {
  for (;;) {
    bool running = false;
    for (std::size_t w = 0; w < pids_.size(); ++w) {
      if (pids_[w] == 0) continue;
      int status = 0;
      const pid_t done = waitpid(pids_[w], &status, WNOHANG);
      if (done == 0) {
        running = true;
        continue;
      }
      kill(-pids_[w], SIGKILL);  // what it started itself goes with it
      pids_[w] = 0;
      WorkerExit& exit = exits_[w];
      exit.exited = true;
      exit.signaled = done > 0 && WIFSIGNALED(status);
      exit.code = done < 0 ? 255 : exit.signaled ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
      exit.output_tail = detail::tail_of_file(output_of(static_cast<int>(w)), kTailLines);
      on_exit(static_cast<int>(w));
    }
    if (!running) return true;
    if (std::chrono::steady_clock::now() >= deadline) {
      for (std::size_t w = 0; w < pids_.size(); ++w)
        if (pids_[w] != 0) exits_[w].output_tail = detail::tail_of_file(output_of(static_cast<int>(w)), kTailLines);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

}  // namespace pgrace::files
