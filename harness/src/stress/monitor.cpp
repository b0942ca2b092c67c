#include "stress/monitor.hpp"

#include <pqxx/nontransaction>

#include "core/judge.hpp"
#include "core/run_shared.hpp"
#include "core/stragglers.hpp"

namespace pgrace::detail::stress {

// Checks the during-run invariants until told to stop: every 5 ms at first,
// when races show up, then less often (up to every 10 ms). With nothing left
// to check it still sends SELECT 1, so that a lost connection shows at once.
// A failure stops the run: the main thread wakes up and judges it.
void monitor_main(Repetition& rep, pqxx::connection& connection, Clock::time_point released) {
  try {
    for (auto poll = std::chrono::milliseconds(5);;
         poll = std::min(poll + std::chrono::milliseconds(1), std::chrono::milliseconds(10))) {
      {
        pqxx::nontransaction tx(connection);  // one round trip per invariant: it shares the server with the run
        const auto counts = snapshot(rep.live);
        CheckContext context{tx, counts, 0};
        bool sent = false;
        for (std::size_t i = 0; i < rep.invariants.size(); ++i) {
          const Invariant& invariant = rep.invariants[i];
          // A plan is checked after the run only, whatever during_run says.
          if (!invariant.during_run || invariant.kind == InvariantKind::uses_index || rep.first_seen[i]) continue;
          rep.monitor_checking = static_cast<int>(i);
          auto witnesses = check_or_fail(invariant, context, rep.max_witnesses, "during the run");
          sent = sent || invariant.kind != InvariantKind::predicate;
          if (!witnesses.empty()) {
            rep.first_seen[i] = ms_between(released, Clock::now());
            rep.first_witnesses[i] = std::move(witnesses);
            rep.violation_seen = true;
          }
        }
        rep.monitor_checking = -1;
        if (!sent) tx.exec("SELECT 1");
      }
      std::unique_lock lock(rep.mutex);
      if (rep.changed.wait_for(lock, poll, [&] { return rep.monitor_stop; })) return;
    }
  } catch (...) {
    std::lock_guard lock(rep.mutex);
    rep.monitor_failure = std::current_exception();
    rep.abort = true;
    rep.changed.notify_all();
  }
}

// Stops the monitor, letting it finish its check until `deadline` (at least
// kGrace); if it does not stop (stuck in a predicate), ends it as a
// straggler and returns what happened.
std::string stop_monitor(Repetition& rep, WatchedThread& monitor, int monitor_pid, pqxx::connection* control,
                         Clock::time_point deadline) {
  {
    std::lock_guard lock(rep.mutex);
    rep.monitor_stop = true;
    rep.changed.notify_all();
  }
  if (monitor.join_until(std::max(deadline, Clock::now() + kGrace))) return "";
  const int checking = rep.monitor_checking;
  std::string who = "the invariant monitor";
  if (checking >= 0) who += " (checking \"" + rep.invariants[checking].name + "\")";
  return end_stragglers(control,
                        {{who, monitor_pid, [&monitor](Clock::time_point d) { return monitor.join_until(d); },
                          [&monitor] { monitor.abandon(); }}},
                        kGrace);
}

}  // namespace pgrace::detail::stress
