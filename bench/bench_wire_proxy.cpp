// What the wire proxy (harness/src/wire/proxy.hpp) costs a request: the
// round trip of one statement over libpq on a unix socket, directly to an
// ephemeral server and through a proxy (recording only, no gate).
//
//   BM_SelectOne/direct, /proxied      `SELECT 1` as a simple Query
//   BM_SelectParam/direct, /proxied    `SELECT $1::int` with the extended protocol (Parse, Bind,
//                                      Describe, Execute, Sync)
//
// Each runs 7 repetitions and reports their mean, median and standard
// deviation of the wall time per round trip (µs), and the counter
// process_cpu_us: the CPU time (user + system) of this process per round
// trip, which is the client's plus, when proxied, the proxy's (the server
// is another process).

#include <benchmark/benchmark.h>
#include <libpq-fe.h>
#include <sys/resource.h>

#include <memory>
#include <optional>
#include <string>

#include "pgrace/server.hpp"
#include "wire/proxy.hpp"

namespace {

// CPU time (user + system) this process used so far, in µs.
double process_cpu_us() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto us = [](const timeval& t) { return t.tv_sec * 1e6 + t.tv_usec; };
  return us(usage.ru_utime) + us(usage.ru_stime);
}

pgrace::Server& server() {
  static const std::unique_ptr<pgrace::Server> server = pgrace::Server::open(std::nullopt);
  return *server;
}

// Runs `query(connection)` once per iteration on a connection made directly or through a proxy.
template <typename Query>
void round_trips(benchmark::State& state, bool proxied, Query query) {
  std::string dsn = server().dsn();
  std::unique_ptr<pgrace::detail::WireProxy> proxy;
  if (proxied) {
    proxy = std::make_unique<pgrace::detail::WireProxy>(dsn, nullptr);
    dsn = proxy->proxied_dsn(dsn);
  }
  PGconn* connection = PQconnectdb(dsn.c_str());
  if (PQstatus(connection) != CONNECTION_OK) state.SkipWithError(PQerrorMessage(connection));
  const double cpu_start = process_cpu_us();
  for (auto _ : state) {
    PGresult* result = query(connection);
    if (PQresultStatus(result) != PGRES_TUPLES_OK) state.SkipWithError(PQerrorMessage(connection));
    PQclear(result);
  }
  state.counters["process_cpu_us"] =
      benchmark::Counter(process_cpu_us() - cpu_start, benchmark::Counter::kAvgIterations);
  PQfinish(connection);
}

void BM_SelectOne(benchmark::State& state, bool proxied) {
  round_trips(state, proxied, [](PGconn* c) { return PQexec(c, "SELECT 1"); });
}

void BM_SelectParam(benchmark::State& state, bool proxied) {
  round_trips(state, proxied, [](PGconn* c) {
    const char* values[] = {"42"};
    return PQexecParams(c, "SELECT $1::int", 1, nullptr, values, nullptr, nullptr, 0);
  });
}

}  // namespace

BENCHMARK_CAPTURE(BM_SelectOne, direct, false)
    ->Repetitions(7)
    ->ReportAggregatesOnly(true)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_SelectOne, proxied, true)
    ->Repetitions(7)
    ->ReportAggregatesOnly(true)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_SelectParam, direct, false)
    ->Repetitions(7)
    ->ReportAggregatesOnly(true)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_SelectParam, proxied, true)
    ->Repetitions(7)
    ->ReportAggregatesOnly(true)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
