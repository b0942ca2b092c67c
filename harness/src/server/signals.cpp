#include "server/signals.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "server/termination.hpp"

namespace pgrace {
namespace {

struct State {
  std::mutex mutex;
  std::condition_variable signalled;
  std::map<int, std::function<void()>> cleanups;
  int next_handle = 0;
  int waiters = 0;
  int received = 0;
  std::atomic<bool> terminating{false};  // the cleanups run; the process ends with 128+signal
};

State& state() {
  static State* s = new State;  // never destroyed: the signal thread outlives main()
  return *s;
}

sigset_t termination_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  struct sigaction hup {};
  if (sigaction(SIGHUP, nullptr, &hup) == 0 && hup.sa_handler != SIG_IGN) sigaddset(&set, SIGHUP);
  return set;
}

void signal_loop() {
  sigset_t set = termination_signals();
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    State& s = state();
    std::vector<std::function<void()>> to_run;
    {
      std::lock_guard lock(s.mutex);
      if (s.waiters > 0) {
        s.received = sig;
        s.signalled.notify_all();
        continue;
      }
      for (auto& [handle, stop] : s.cleanups) to_run.push_back(stop);
      s.terminating = true;
    }
    // Stopping the servers makes the other threads fail (a run loses its
    // server): they must neither report that nor end the process first.
    const int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, STDOUT_FILENO);
    dup2(devnull, STDERR_FILENO);
    for (auto& stop : to_run) stop();
    _exit(128 + sig);
  }
}

// Registered with atexit: a thread that ends the process while the cleanups
// run waits for them, and so for the exit status they end it with.
void wait_if_terminating() {
  if (state().terminating) detail::await_termination();
}

}  // namespace

void install_termination_handler() {
  // A shell starts background jobs with SIGINT ignored; pgrace must still
  // clean up on it. An ignored SIGHUP (nohup) is respected.
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  sigset_t set = termination_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::atexit(wait_if_terminating);
  std::thread(signal_loop).detach();
}

int wait_for_termination_signal(const std::function<void()>& once_waiting) {
  State& s = state();
  std::unique_lock lock(s.mutex);
  ++s.waiters;
  if (once_waiting) {
    lock.unlock();
    once_waiting();
    lock.lock();
  }
  s.signalled.wait(lock, [&] { return s.received != 0; });
  --s.waiters;
  return s.received;
}

namespace detail {

int register_cleanup(std::function<void()> stop) {
  State& s = state();
  std::lock_guard lock(s.mutex);
  s.cleanups.emplace(s.next_handle, std::move(stop));
  return s.next_handle++;
}

void unregister_cleanup(int handle) {
  State& s = state();
  std::lock_guard lock(s.mutex);
  s.cleanups.erase(handle);
}

void await_termination() {
  for (;;) pause();
}

}  // namespace detail
}  // namespace pgrace
