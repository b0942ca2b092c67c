#pragma once
// A barrier that can be broken. boost::barrier and std::barrier cannot be:
// workers waiting for a worker that never arrives (stuck in a scenario's C++
// code) would wait forever and could never be joined. Internal to pgrace.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>

namespace pgrace::detail {

class Barrier {
 public:
  // `parties` threads meet; the last to arrive runs `completion` (if any)
  // before any of them is released.
  explicit Barrier(std::size_t parties, std::function<void()> completion = {})
      : parties_(parties), completion_(std::move(completion)) {}

  // Blocks until every party arrived, or the barrier is broken. Returns
  // false if it is broken (then it returns at once, forever). Thread-safe.
  bool arrive_and_wait() {
    std::unique_lock lock(mutex_);
    if (broken_) return false;
    const std::uint64_t generation = generation_;
    if (++arrived_ == parties_) {
      if (completion_) completion_();
      arrived_ = 0;
      ++generation_;
      released_.notify_all();
      return true;
    }
    released_.wait(lock, [&] { return broken_ || generation_ != generation; });
    return generation_ != generation;
  }

  // Releases every waiting party with false, and every later one. Thread-safe.
  void break_all() {
    std::lock_guard lock(mutex_);
    broken_ = true;
    released_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable released_;
  const std::size_t parties_;
  std::size_t arrived_ = 0;
  std::uint64_t generation_ = 0;
  bool broken_ = false;
  std::function<void()> completion_;
};

}  // namespace pgrace::detail
