#include "core/watched_thread.hpp"

namespace pgrace::detail {

WatchedThread::WatchedThread(std::function<void()> body)
    : thread_([done = done_, body = std::move(body)] {
        body();
        std::lock_guard lock(done->mutex);
        done->done = true;
        done->changed.notify_all();
      }) {}

WatchedThread::~WatchedThread() {
  if (!abandoned_ && !join_until(Clock::now() + std::chrono::seconds(1))) abandon();
}

bool WatchedThread::join_until(Clock::time_point deadline) {
  if (abandoned_) return false;
  if (!thread_.joinable()) return true;
  {
    std::unique_lock lock(done_->mutex);
    if (!done_->changed.wait_until(lock, deadline, [&] { return done_->done; })) return false;
  }
  thread_.join();
  return true;
}

void WatchedThread::abandon() {
  if (abandoned_ || !thread_.joinable()) return;
  abandoned_ = true;
  thread_.detach();
}

}  // namespace pgrace::detail
