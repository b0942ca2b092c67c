#include "stress/connections.hpp"

#include <pqxx/nontransaction>

#include "core/run_shared.hpp"
#include "core/session_setup.hpp"
#include "pgrace/connection.hpp"

namespace pgrace::detail::stress {

Connections open_connections(const std::string& dsn, const ScenarioInfo& info, Scenario& scenario, const Knobs& knobs,
                             const RunSettings& settings, std::string& deadlock_timeout) {
  const double st = settings.statement_timeout_s;
  Connections c;
  c.control = connect(dsn);
  // The workers' sessions get the same settings.
  deadlock_timeout = prepare_session(*c.control, Isolation::read_committed, "pgrace-control", st);
  c.monitor = connect(dsn);
  c.monitor_pid = c.monitor->backendpid();
  prepare_session(*c.monitor, Isolation::read_committed, "pgrace-monitor", st);
  if (!knobs.faults.empty()) c.faults = std::make_shared<FaultInjection>(dsn, knobs, settings.seed);
  for (int i = 0; i < knobs.threads; ++i) {
    const std::string client = worker_session_name(i);
    const std::string worker_dsn = c.faults ? c.faults->proxy.proxied_dsn(dsn) + " application_name=" + client : dsn;
    // Called again by the worker's thread for a connection fault injection
    // dropped, maybe after the run (a thread left running): it holds copies.
    auto open = [worker_dsn, dsn, client, isolation = knobs.isolation, st, info, &scenario] {
      auto connection = connect(worker_dsn);
      prepare_session(*connection, isolation, client, st);
      call_scenario(info, "prepare()", dsn, [&] { scenario.prepare(*connection); });
      return connection;
    };
    std::shared_ptr<FaultedConnections> drops;
    if (c.faults) drops = std::shared_ptr<FaultedConnections>(c.faults, &c.faults->gate);
    c.workers.push_back(std::make_shared<WorkerConnection>(open, drops, i, true));
  }
  if (info.uses_shared_pool) {
    std::vector<std::unique_ptr<pqxx::connection>> pooled;
    for (int i = 0; i < knobs.threads; ++i) {
      pooled.push_back(connect(dsn));
      prepare_session(*pooled.back(), knobs.isolation, "pgrace-pool-" + std::to_string(i), st);
      // A statement stuck behind a transaction that only a later statement
      // can end must give up rather than stall the round.
      pqxx::nontransaction tx(*pooled.back());
      tx.exec("SET lock_timeout = '20ms'");
    }
    c.pool = std::make_shared<RoundRobinPool>(std::move(pooled));
  }
  if (knobs.pool.size > 0) {
    // Called again by reclaim() for a connection it replaces, while the run lasts.
    auto open = [dsn, isolation = knobs.isolation, st, &info, &scenario](int slot) {
      auto connection = connect(dsn);
      prepare_session(*connection, isolation, "pgrace-pool-lease-" + std::to_string(slot), st);
      call_scenario(info, "prepare()", dsn, [&] { scenario.prepare(*connection); });
      return connection;
    };
    c.leases = std::make_shared<LeasePool>(knobs.pool.size, knobs.pool.acquire_timeout, open);
  }
  return c;
}

}  // namespace pgrace::detail::stress
