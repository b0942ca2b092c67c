#include "steps/wait_for_graph.hpp"

namespace pgrace::detail {
namespace {

bool waits(const SessionWaits& session) {
  return session.busy && (session.waits_outside || !session.waits_for.empty());
}

// Whether a cycle of waits is reachable from `s` (the server's deadlock
// detector will then end one of its members' waits).
bool reaches_cycle(const std::vector<SessionWaits>& sessions, std::size_t s, std::vector<int>& mark) {
  enum { unseen = 0, on_path = 1, done = 2 };
  mark[s] = on_path;
  for (std::size_t blocker : sessions[s].waits_for) {
    if (blocker >= sessions.size() || !waits(sessions[blocker])) continue;
    if (mark[blocker] == on_path) return true;
    if (mark[blocker] == unseen && reaches_cycle(sessions, blocker, mark)) return true;
  }
  mark[s] = done;
  return false;
}

// Whether `s` can never be released, the graph from `s` having no cycle: it
// waits for an idle session, or for one that can never be released itself.
// A lock is granted only once every session it waits for has let go, so one
// such blocker is enough.
bool stuck(const std::vector<SessionWaits>& sessions, std::size_t s) {
  const SessionWaits& session = sessions[s];
  if (!session.busy) return true;  // idle: holds its locks, releases nothing
  for (std::size_t blocker : session.waits_for)
    if (blocker < sessions.size() && stuck(sessions, blocker)) return true;
  return false;  // running, or waiting only for what may still move
}

}  // namespace

StepProspect step_prospect(const std::vector<SessionWaits>& sessions, std::size_t s) {
  if (!waits(sessions.at(s))) return StepProspect::running;
  std::vector<int> mark(sessions.size(), 0);
  if (reaches_cycle(sessions, s, mark)) return StepProspect::may_end;
  return stuck(sessions, s) ? StepProspect::stuck : StepProspect::may_end;
}

}  // namespace pgrace::detail
