// How long an ephemeral server takes: pgrace::Server::open(std::nullopt) up
// to its first successful query, and its destruction.
//
//   BM_ColdStart  every iteration uses a fresh, empty PGRACE_TMPDIR, so the
//                 template cache is cold and initdb runs.
//   BM_WarmStart  the template cache is filled first; each iteration copies
//                 the cached cluster and starts it.
//
// The measured (manual) time is open-to-first-query. Counters (averages per
// iteration, in ms): initdb_ms, copy_ms, start_ms (pgrace's ProvisionTimings)
// and stop_ms (destroying the Server: shutdown and directory removal).

#include <benchmark/benchmark.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <pqxx/nontransaction>
#include <stdexcept>
#include <string>

#include "pgrace/connection.hpp"
#include "pgrace/server.hpp"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

struct Totals {
  double initdb_ms = 0, copy_ms = 0, start_ms = 0, stop_ms = 0;
  int cache_hits = 0;

  void report(benchmark::State& state) const {
    using benchmark::Counter;
    state.counters["initdb_ms"] = Counter(initdb_ms, Counter::kAvgIterations);
    state.counters["copy_ms"] = Counter(copy_ms, Counter::kAvgIterations);
    state.counters["start_ms"] = Counter(start_ms, Counter::kAvgIterations);
    state.counters["stop_ms"] = Counter(stop_ms, Counter::kAvgIterations);
    state.counters["cache_hits"] = Counter(cache_hits);
  }
};

// Opens an ephemeral server, runs a query on it, destroys it. Sets the
// iteration time to open-to-first-query and adds the timings to `totals`.
void start_query_stop(benchmark::State& state, Totals& totals) {
  const auto start = Clock::now();
  auto server = pgrace::Server::open(std::nullopt);
  state.SetIterationTime(seconds_since(start));  // open() ran the first query

  {
    auto connection = pgrace::connect(server->dsn());
    pqxx::nontransaction tx(*connection);  // ends before its connection
    benchmark::DoNotOptimize(tx.exec("SELECT 1")[0][0].as<int>());
  }

  const pgrace::ProvisionTimings& t = server->timings();
  totals.initdb_ms += t.initdb_ms;
  totals.copy_ms += t.copy_ms;
  totals.start_ms += t.start_ms;
  totals.cache_hits += t.cache_hit ? 1 : 0;

  const auto stop = Clock::now();
  server.reset();
  totals.stop_ms += seconds_since(stop) * 1000;
}

// PGRACE_TMPDIR for the scope: a fresh directory (so a cold cache), removed
// with its contents afterwards; the previous value is restored.
class FreshTmpdir {
 public:
  FreshTmpdir() {
    if (const char* old = std::getenv("PGRACE_TMPDIR")) old_ = old;
    // On tmpfs, like pgrace's default, so cold and warm starts compare fairly.
    const fs::path base = access("/dev/shm", W_OK | X_OK) == 0 ? fs::path("/dev/shm") : fs::temp_directory_path();
    std::string pattern = (base / "pgrace-bench-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error(std::strerror(errno));
    path_ = pattern;
    chmod(path_.c_str(), 0755);  // reachable by the postgres account when we run as root
    setenv("PGRACE_TMPDIR", path_.c_str(), 1);
  }
  ~FreshTmpdir() {
    if (old_)
      setenv("PGRACE_TMPDIR", old_->c_str(), 1);
    else
      unsetenv("PGRACE_TMPDIR");
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }

 private:
  fs::path path_;
  std::optional<std::string> old_;
};

void BM_ColdStart(benchmark::State& state) {
  Totals totals;
  for (auto _ : state) {
    FreshTmpdir tmpdir;
    start_query_stop(state, totals);
  }
  totals.report(state);
}
BENCHMARK(BM_ColdStart)->Iterations(5)->UseManualTime()->Unit(benchmark::kMillisecond);

void BM_WarmStart(benchmark::State& state) {
  pgrace::Server::open(std::nullopt).reset();  // fill the cache if it is cold
  Totals totals;
  for (auto _ : state) start_query_stop(state, totals);
  totals.report(state);
}
BENCHMARK(BM_WarmStart)->Iterations(20)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
