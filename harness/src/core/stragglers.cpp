#include "core/stragglers.hpp"

#include <map>
#include <pqxx/pqxx>

namespace pgrace::detail {
namespace {

std::string pid_array(const std::vector<const Straggler*>& stragglers) {
  std::string text = "{";
  for (const auto* s : stragglers) text += (text.size() > 1 ? "," : "") + std::to_string(s->backend_pid);
  return text + "}";
}

// pid -> "idle in transaction, waiting on Lock:transactionid, last query: UPDATE ..."
std::map<int, std::string> activities(pqxx::connection& control, const std::vector<const Straggler*>& stragglers) {
  std::map<int, std::string> out;
  pqxx::nontransaction tx(control);
  const auto rows = tx.exec_params(
      "SELECT pid, coalesce(state, 'unknown state'), wait_event_type || ':' || wait_event, "
      "left(regexp_replace(coalesce(query, ''), '\\s+', ' ', 'g'), 100) "
      "FROM pg_stat_activity WHERE pid = ANY($1::int[])",
      pid_array(stragglers));
  for (const auto& row : rows) {
    std::string text = row[1].as<std::string>();
    if (!row[2].is_null()) text += ", waiting on " + row[2].as<std::string>();
    if (const auto query = row[3].as<std::string>(); !query.empty()) text += ", last query: " + query;
    out[row[0].as<int>()] = text;
  }
  return out;
}

// Calls `function` (pg_cancel_backend or pg_terminate_backend) on each backend.
void signal_backends(pqxx::connection& control, const std::vector<const Straggler*>& stragglers, const char* function) {
  pqxx::nontransaction tx(control);
  tx.exec_params(std::string("SELECT ") + function + "(pid) FROM unnest($1::int[]) AS pid", pid_array(stragglers));
}

// The stragglers still running after waiting up to `grace` for each.
std::vector<const Straggler*> still_running(const std::vector<const Straggler*>& stragglers,
                                            std::chrono::milliseconds grace) {
  std::vector<const Straggler*> out;
  const auto deadline = Clock::now() + grace;
  for (const auto* s : stragglers)
    if (!s->wait_until(deadline)) out.push_back(s);
  return out;
}

std::string names(const std::vector<const Straggler*>& stragglers) {
  std::string text;
  for (std::size_t i = 0; i < stragglers.size(); ++i)
    text += (i == 0                       ? ""
             : i + 1 == stragglers.size() ? " and "
                                          : ", ") +
            stragglers[i]->who.substr(0, stragglers[i]->who.find(" ("));
  return text;
}

}  // namespace

std::string end_stragglers(pqxx::connection* control, const std::vector<Straggler>& stragglers,
                           std::chrono::milliseconds grace) {
  std::vector<const Straggler*> running;
  for (const auto& s : stragglers) running.push_back(&s);
  std::map<int, std::string> doing;
  try {
    if (control) doing = activities(*control, running);
  } catch (const std::exception&) {
    control = nullptr;  // lost too: nothing more to ask or signal
  }
  std::string text;
  constexpr std::size_t kListed = 4;
  for (std::size_t i = 0; i < running.size() && i < kListed; ++i) {
    auto it = doing.find(running[i]->backend_pid);
    text += (i ? "; " : "") + running[i]->who + " [backend " + std::to_string(running[i]->backend_pid) + ": " +
            (it == doing.end() ? (control ? "gone" : "not asked, the control connection is lost") : it->second) + "]";
  }
  if (running.size() > kListed) text += "; and " + std::to_string(running.size() - kListed) + " more";

  bool cancelled = false, terminated = false;
  for (bool terminate : {false, true}) {
    if (running.empty()) break;
    try {
      if (control) signal_backends(*control, running, terminate ? "pg_terminate_backend" : "pg_cancel_backend");
      (terminate ? terminated : cancelled) = control != nullptr;
    } catch (const std::exception&) {
      control = nullptr;
    }
    running = still_running(running, grace);
  }
  if (cancelled) text += "; pgrace cancelled their backends";
  if (terminated) text += ", then terminated those that went on";
  for (const auto* s : running) s->abandon();
  if (!running.empty())
    text += "; " + names(running) + " never returned (stuck in the scenario's C++ code) and " +
            (running.size() == 1 ? "was" : "were") + " left running until pgrace exits";
  return text;
}

}  // namespace pgrace::detail
