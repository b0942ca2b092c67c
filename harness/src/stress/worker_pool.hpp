#pragma once
// The pool as one stress worker sees it (Worker::pool()): it acquires on
// the worker's behalf, so that pgrace can name the connections a worker
// holds and say, when a run times out, that it was waiting for one.
// Internal to pgrace.

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>

#include "stress/lease_pool.hpp"

namespace pgrace::detail {

class WorkerPool final : public Pool {
 public:
  using Clock = std::chrono::steady_clock;

  WorkerPool(std::shared_ptr<LeasePool> pool, int worker) : pool_(std::move(pool)), worker_(worker) {}

  using Pool::acquire;
  Lease acquire(std::chrono::milliseconds timeout) override {
    waiting_since_ = Clock::now();
    waiting_ = true;
    struct Done {
      std::atomic<bool>& waiting;
      ~Done() { waiting = false; }
    } done{waiting_};
    return pool_->acquire_for(worker_, timeout);
  }
  int size() const override { return pool_->size(); }
  std::chrono::milliseconds acquire_timeout() const override { return pool_->acquire_timeout(); }

  // Since when the worker waits in acquire(); nullopt when it does not.
  // Read from any thread.
  std::optional<Clock::time_point> waiting_since() const {
    if (!waiting_) return std::nullopt;
    return waiting_since_.load();
  }

 private:
  std::shared_ptr<LeasePool> pool_;
  int worker_;
  std::atomic<bool> waiting_{false};
  std::atomic<Clock::time_point> waiting_since_{};
};

}  // namespace pgrace::detail
