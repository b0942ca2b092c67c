#pragma once
// The run settings a scenario proposes and the command line may override.

#include <optional>
#include <string>

#include <vector>

#include "pgrace/faults.hpp"
#include "pgrace/pool.hpp"

namespace pgrace {

enum class Isolation { read_committed, repeatable_read, serializable };

// "read committed", ... as PostgreSQL spells them.
const char* to_sql(Isolation level);
// Parses "read_committed", "read-committed", "read committed", "rc",
// "repeatable_read", "rr", "serializable" (any case). Throws pgrace::Error (usage).
Isolation parse_isolation(const std::string& text);

// When workers wait for each other at the barrier.
enum class Sync {
  start,  // once, so all start together; then each runs freely
  round,  // before every iteration, so the transactions of a round collide
};
const char* to_string(Sync sync);

// Which failed attempts are retried, and how often.
struct RetryPolicy {
  int max_retries = 0;        // retry 40001 and 40P01 up to this many times; 0: never
  int backoff_max_us = 2000;  // each retry first sleeps a random 0..backoff_max_us << attempt (capped)
};

struct Knobs {
  int threads = 8;                   // workers, one connection each (1..256)
  long iterations = 50;              // transactions per worker
  std::optional<double> duration_s;  // run for this long instead of `iterations`
  Isolation isolation = Isolation::read_committed;
  Sync sync = Sync::round;
  RetryPolicy retry;
  PoolSettings pool{};  // Worker::pool(); size 0: none (stress mode only)
  // Faults injected into the workers' connections (pgrace/faults.hpp); a
  // request gets the first rule that fires for it. Empty: none, and the
  // workers connect directly. Stress mode and explore --workers only.
  std::vector<FaultRule> faults{};
};

}  // namespace pgrace
