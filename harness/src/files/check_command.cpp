#include "files/check_command.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <sstream>

#include "files/worker_processes.hpp"
#include "pgrace/error.hpp"

namespace pgrace::files {
namespace {

// Reads `fd` to its end, or until `deadline`; false if the deadline came first.
bool read_all(int fd, std::string& out, std::chrono::steady_clock::time_point deadline) {
  char buffer[4096];
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n <= 0) return true;
    out.append(buffer, static_cast<std::size_t>(n));
  }
}

}  // namespace

std::vector<std::string> run_check_command(const std::vector<std::string>& command, const std::filesystem::path& folder,
                                           const std::map<std::string, std::string>& environment, int timeout_s) {
  // One process with its output in a file would lose stdout's lines to
  // stderr's; a pipe keeps stdout alone.
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    throw Error(ExitCode::infrastructure,
                std::string("cannot run an invariant's command: pipe: ") + std::strerror(errno));
  WorkerProcesses::Environment env = environment;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  std::string out;
  bool finished = false;
  int code = 0;
  {
    WorkerProcesses process(
        command, folder, 1, [&env](int) { return env; }, fds[1]);
    close(fds[1]);
    const bool read = read_all(fds[0], out, deadline);
    close(fds[0]);
    finished = read && process.wait(deadline, [](int) {});
    code = process.exits()[0].code;
  }
  if (finished && code == 0) return {};
  std::vector<std::string> witnesses;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);)
    if (line.find_first_not_of(" \t\r") != std::string::npos) witnesses.push_back(line);
  if (witnesses.empty())
    witnesses.push_back(!finished ? "the command ran past " + std::to_string(timeout_s) + " s and was killed"
                                  : "the command exited with status " + std::to_string(code) + " and printed nothing");
  return witnesses;
}

}  // namespace pgrace::files
