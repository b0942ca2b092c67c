#include "wait_for_graph.hpp"

namespace pgrace::detail {
namespace {

bool waits(const SessionWaits& session) {
  return session.busy && (session.waits_outside || !session.waits_for.empty());
}

// Depth-first search from `s` through busy sessions; true as soon as it
// meets one that may move (running, or waiting outside) or a cycle.
bool reaches_movement(const std::vector<SessionWaits>& sessions, std::size_t s, std::vector<int>& mark) {
  enum { unseen = 0, on_path = 1, done = 2 };
  const SessionWaits& session = sessions[s];
  if (!session.busy) return false;  // idle: holds its locks, releases nothing
  if (!waits(session) || session.waits_outside) return true;
  mark[s] = on_path;
  for (std::size_t blocker : session.waits_for) {
    if (blocker >= sessions.size()) return true;  // unknown: assume it may move
    if (mark[blocker] == on_path) return true;    // a deadlock: the server breaks it
    if (mark[blocker] == unseen && reaches_movement(sessions, blocker, mark)) return true;
  }
  mark[s] = done;
  return false;
}

}  // namespace

StepProspect step_prospect(const std::vector<SessionWaits>& sessions, std::size_t s) {
  if (!waits(sessions.at(s))) return StepProspect::running;
  std::vector<int> mark(sessions.size(), 0);
  return reaches_movement(sessions, s, mark) ? StepProspect::may_end : StepProspect::stuck;
}

}  // namespace pgrace::detail
