#pragma once
// The worker processes of one repetition of a scenario file: started in the
// file's folder, each in a process group of its own, with its output kept
// in a private temporary directory, and never left behind (killed on
// timeout, on destruction and on Ctrl-C/SIGTERM). Internal to pgrace.

#include <sys/types.h>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace pgrace::files {

// The program `command[0]` names, as a worker started in `folder` would run
// it: a path with a '/' is relative to `folder`, a bare name is looked up
// on PATH. Throws pgrace::Error (usage) naming `file` and `key` when there
// is no such executable.
void require_program(const std::vector<std::string>& command, const std::filesystem::path& folder,
                     const std::string& file, const std::string& key);

// How a worker process ended.
struct WorkerExit {
  bool exited = false;  // false: still running when the run ended (then killed)
  int code = 0;         // its exit code, or 128 + the signal that killed it
  bool signaled = false;
  std::string output_tail;  // the last lines of its stdout and stderr, " | "-joined
};

class WorkerProcesses {
 public:
  using Environment = std::map<std::string, std::string>;
  // Starts `count` processes of `command` (argv, no shell) in `folder`, the
  // one of index w (0-based) with pgrace's environment plus `environment(w)`,
  // its stdout and stderr kept in a file (stdout to `stdout_fd` instead
  // when given), its stdin /dev/null. Throws pgrace::Error (infrastructure) if fork fails, after killing those
  // started.
  WorkerProcesses(const std::vector<std::string>& command, const std::filesystem::path& folder, int count,
                  const std::function<Environment(int)>& environment, int stdout_fd = -1);
  // Kills (SIGKILL, the whole process group) and reaps the workers still
  // running, and removes their output. Never throws.
  ~WorkerProcesses();
  WorkerProcesses(const WorkerProcesses&) = delete;
  WorkerProcesses& operator=(const WorkerProcesses&) = delete;

  // Waits for every worker to exit, calling `on_exit(w)` as each does.
  // Returns false if `deadline` came first (the workers still running are
  // left running: the destructor kills them).
  bool wait(std::chrono::steady_clock::time_point deadline, const std::function<void(int)>& on_exit);
  const std::vector<WorkerExit>& exits() const { return exits_; }

 private:
  void kill_all() noexcept;
  std::filesystem::path output_of(int w) const;

  std::filesystem::path directory_;
  std::vector<pid_t> pids_;  // 0 once reaped
  std::vector<WorkerExit> exits_;
  int cleanup_ = -1;
};

}  // namespace pgrace::files
