#pragma once
// A session of interleave mode: a connection and the thread that runs its
// steps, so that a step blocked on a lock blocks only that thread. Internal
// to pgrace.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <pqxx/connection>
#include <thread>

#include "core/watched_thread.hpp"  // Clock

namespace pgrace::detail {

// One session: its connection and a thread that runs its steps, so that a
// step blocked on a lock blocks only that thread. The thread shares the
// connection and its queue, so that it can be left running (abandoned) when
// a step is stuck in the scenario's C++ code.
class SessionThread {
 public:
  using Job = std::function<void(pqxx::connection&)>;

  explicit SessionThread(std::unique_ptr<pqxx::connection> connection)
      : state_(std::make_shared<State>(std::move(connection))),
        pid_(state_->connection->backendpid()),
        thread_([state = state_] { loop(*state); }) {}
  // Ends the thread once idle; one that stays busy (abandoned, or stuck
  // past a second) is detached and ends after its job.
  ~SessionThread() {
    {
      std::lock_guard lock(state_->mutex);
      state_->quit = true;
    }
    state_->changed.notify_all();
    if (abandoned_ || !wait_idle(std::chrono::seconds(1)))
      thread_.detach();
    else
      thread_.join();
  }

  int pid() const { return pid_; }

  // Starts `job` on the session's thread. The session must be idle. The job
  // must own what it uses: it may outlive the schedule if it never returns.
  void submit(Job job) {
    {
      std::lock_guard lock(state_->mutex);
      state_->job = std::move(job);
      state_->busy = true;
    }
    state_->changed.notify_all();
  }
  // Waits until the current job is done or `timeout` passes; true if idle.
  bool wait_idle(std::chrono::microseconds timeout) {
    std::unique_lock lock(state_->mutex);
    return state_->changed.wait_for(lock, timeout, [&] { return !state_->busy; });
  }
  bool wait_idle_until(Clock::time_point deadline) {
    std::unique_lock lock(state_->mutex);
    return state_->changed.wait_until(lock, deadline, [&] { return !state_->busy; });
  }
  bool busy() {
    std::lock_guard lock(state_->mutex);
    return state_->busy;
  }
  // Leaves the thread to its current job; the session is no longer usable.
  void abandon() { abandoned_ = true; }
  bool abandoned() const { return abandoned_; }

 private:
  struct State {
    explicit State(std::unique_ptr<pqxx::connection> c) : connection(std::move(c)) {}
    std::unique_ptr<pqxx::connection> connection;
    std::mutex mutex;
    std::condition_variable changed;
    Job job;
    bool busy = false;
    bool quit = false;
  };

  static void loop(State& state) {
    std::unique_lock lock(state.mutex);
    for (;;) {
      state.changed.wait(lock, [&] { return state.quit || state.job; });
      if (state.quit && !state.job) return;
      auto job = std::move(state.job);
      state.job = nullptr;
      lock.unlock();
      job(*state.connection);
      lock.lock();
      state.busy = false;
      state.changed.notify_all();
    }
  }

  std::shared_ptr<State> state_;
  int pid_;
  std::thread thread_;  // after state_: starts once it exists
  bool abandoned_ = false;
};

}  // namespace pgrace::detail
