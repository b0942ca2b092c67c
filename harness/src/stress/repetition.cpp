#include "stress/repetition.hpp"

#include <pqxx/nontransaction>

#include "core/judge.hpp"
#include "core/session_setup.hpp"
#include "core/stragglers.hpp"
#include "core/watched_thread.hpp"
#include "stress/monitor.hpp"
#include "util/text.hpp"

namespace pgrace::detail::stress {
namespace {

// Sends SELECT 1 on `control`; returns why it failed (the connection is
// lost), or "". Never throws.
std::string control_failure(pqxx::connection& control) {
  try {
    pqxx::nontransaction tx(control);
    tx.exec("SELECT 1");
    return "";
  } catch (...) {
    return classify(std::current_exception()).message;
  }
}

// Waits until every worker finished, the monitor failed, the control
// connection (checked every 100 ms, when `progress` is offered a report)
// is lost or `deadline` passed.
WaitEnd await_workers(Repetition& rep, pqxx::connection& control, Clock::time_point deadline,
                      const std::function<void()>& progress, std::string& control_error) {
  std::unique_lock lock(rep.mutex);
  for (;;) {
    if (rep.changed.wait_for(lock, std::chrono::milliseconds(100),
                             [&] { return rep.finished_workers == rep.knobs.threads || rep.monitor_failure; }))
      return rep.monitor_failure ? WaitEnd::monitor_failed : WaitEnd::finished;
    lock.unlock();
    const auto now = Clock::now();
    progress();
    control_error = control_failure(control);
    if (!control_error.empty()) return WaitEnd::control_lost;
    if (now >= deadline) return WaitEnd::timed_out;
    lock.lock();
  }
}

Straggler worker_straggler(Repetition& rep, int i, WatchedThread& thread) {
  const WorkerState& w = *rep.workers[i];
  std::string who = "worker " + std::to_string(i);
  if (w.phase == WorkerPhase::in_transaction) {
    who += " (iteration " + std::to_string(w.iteration()) + ", in transaction() for " +
           seconds_text(std::chrono::duration<double>(Clock::now() - w.transaction_started.load()).count());
    if (const auto since = w.waiting_for_pool_since())
      who += ", waiting for a pooled connection for " +
             seconds_text(std::chrono::duration<double>(Clock::now() - *since).count());
    who += ")";
  }
  return {who, w.backend_pid(), [&thread](Clock::time_point d) { return thread.join_until(d); },
          [&thread] { thread.abandon(); }};
}

// The pool's connections leased now, as stragglers of the workers holding
// them: their backends are named, cancelled and terminated with the workers'.
std::vector<Straggler> pooled_stragglers(const LeasePool& leases,
                                         std::vector<std::unique_ptr<WatchedThread>>& threads) {
  std::vector<Straggler> out;
  for (const PooledConnection& p : leases.leased_connections()) {
    const bool known = p.holder >= 0 && p.holder < static_cast<int>(threads.size());
    WatchedThread* thread = known ? threads[static_cast<std::size_t>(p.holder)].get() : nullptr;
    out.push_back({"pooled connection " + std::to_string(p.slot) +
                       (known ? " (leased by worker " + std::to_string(p.holder) + ")" : ""),
                   p.backend_pid, [thread](Clock::time_point d) { return !thread || thread->join_until(d); },
                   [thread] {
                     if (thread) thread->abandon();
                   }});
  }
  return out;
}

// Cuts the injected delays short (WireProxy::cut_delays()), so that the
// workers whose reply one held go on; marks those workers in `held` and
// says who they were, or returns "" when none was held.
std::string cut_injected_delays(WireProxy& proxy, std::vector<bool>& held) {
  const auto replies = proxy.held_replies();
  proxy.cut_delays();
  std::string names, delays;
  for (std::size_t w = 0; w < held.size(); ++w)
    for (const ReplyHolds::Held& reply : replies)
      if (!held[w] && reply.client == worker_session_name(static_cast<int>(w))) {
        held[w] = true;
        names += (names.empty() ? "" : ", ") + std::string("worker ") + std::to_string(w);
        delays += (delays.empty() ? "" : ", ") + std::to_string(reply.delay.count()) + " ms";
      }
  if (names.empty()) return "";
  return names + " waited for a reply that pgrace's injected delay_reply fault held back (" + delays +
         "), not in the scenario's code; pgrace let the held replies go";
}

// Ends the workers that did not finish by `deadline` (see end_stragglers),
// with the pooled connections leased: first breaks the barriers, so that
// workers waiting for them end too, and cuts the injected delays short, so
// that workers waiting for a held reply end too; once the stuck are named,
// closes the pool, so that those waiting for a pooled connection end too.
std::string end_stuck_workers(Repetition& rep, std::vector<std::unique_ptr<WatchedThread>>& threads,
                              pqxx::connection* control, LeasePool* leases, FaultInjection* faults) {
  rep.abort = true;
  rep.start.break_all();
  rep.round.break_all();
  std::vector<bool> held(threads.size(), false);
  const std::string delayed = faults ? cut_injected_delays(faults->proxy, held) : "";
  std::vector<Straggler> stuck;
  const auto settle = Clock::now() + std::chrono::milliseconds(100);  // for those released from a barrier
  for (std::size_t i = 0; i < threads.size(); ++i)
    if (!threads[i]->join_until(held[i] ? Clock::now() + kGrace : settle))
      stuck.push_back(worker_straggler(rep, static_cast<int>(i), *threads[i]));
  if (leases) {
    if (!stuck.empty())
      for (auto& s : pooled_stragglers(*leases, threads)) stuck.push_back(std::move(s));
    leases->close();
  }
  const std::string stragglers = end_stragglers(control, stuck, kGrace);
  return delayed + (delayed.empty() || stragglers.empty() ? "" : "; ") + stragglers;
}

}  // namespace

// Runs one repetition's workers and monitor until they finish, fail, or the
// run's `deadline` passes; ends every thread it started (or abandons it).
RepetitionRun run_repetition(const std::shared_ptr<Repetition>& rep, Connections& c, Clock::time_point deadline,
                             const std::function<void()>& progress) {
  std::vector<std::unique_ptr<WatchedThread>> threads;
  for (int i = 0; i < rep->knobs.threads; ++i)
    threads.push_back(std::make_unique<WatchedThread>([rep, i] { worker_main(*rep, *rep->workers[i]); }));
  rep->deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(rep->knobs.duration_s.value_or(0)));
  rep->start.arrive_and_wait();
  const auto released = Clock::now();
  WatchedThread monitor([rep, connection = c.monitor, released] { monitor_main(*rep, *connection, released); });

  RepetitionRun run;
  run.released = released;
  run.end = await_workers(*rep, *c.control, deadline, progress, run.control_error);
  run.run_ms = ms_between(released, Clock::now());
  run.ended = rep->ended;
  pqxx::connection* control = run.end == WaitEnd::control_lost ? nullptr : c.control.get();
  if (run.end != WaitEnd::finished) rep->abort = true;  // the workers stop after their transaction
  bool all_joined = run.end != WaitEnd::timed_out;
  for (auto& thread : threads) all_joined = all_joined && thread->join_until(deadline);
  if (!all_joined) {
    run.timed_out = true;
    run.stragglers = end_stuck_workers(*rep, threads, control, c.leases.get(), c.faults.get());
  }
  const std::string monitor_stuck = stop_monitor(*rep, monitor, c.monitor_pid, control, deadline);
  if (!monitor_stuck.empty()) {
    run.timed_out = true;
    run.stragglers += (run.stragglers.empty() ? "" : "; ") + monitor_stuck;
  }
  for (auto& thread : threads) run.joined.push_back(!thread->abandoned() && thread->join_until(Clock::now()));
  return run;
}

}  // namespace pgrace::detail::stress
