#pragma once
// A thread that pgrace waits for with a deadline and, when it never ends
// (stuck in a scenario's C++ code, which nothing can interrupt), leaves
// behind: detached, still owning what its body owns, ended by the process's
// exit at the latest. Internal to pgrace.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace pgrace::detail {

using Clock = std::chrono::steady_clock;

class WatchedThread {
 public:
  // Starts `body`. Whatever `body` uses must stay alive while it runs, also
  // after this object is gone: capture shared ownership, not references to
  // the caller's frame.
  explicit WatchedThread(std::function<void()> body);
  // Joins the thread if it ends within a second; otherwise abandons it.
  ~WatchedThread();
  WatchedThread(const WatchedThread&) = delete;
  WatchedThread& operator=(const WatchedThread&) = delete;

  // Waits until the body returned (then joins) or `deadline` passed;
  // returns whether it returned. Call from the owning thread.
  bool join_until(Clock::time_point deadline);
  // Detaches the thread: it runs on, unobserved.
  void abandon();
  bool abandoned() const { return abandoned_; }

 private:
  struct Done {
    std::mutex mutex;
    std::condition_variable changed;
    bool done = false;
  };
  std::shared_ptr<Done> done_ = std::make_shared<Done>();
  std::thread thread_;
  bool abandoned_ = false;
};

}  // namespace pgrace::detail
