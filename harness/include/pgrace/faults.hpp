#pragma once
// Faults pgrace injects into the workers' connections at request
// boundaries, through its wire proxy, so that retry logic under test sees
// what it would see in production: a COMMIT whose reply never arrives (the
// client cannot know whether it committed), a connection that drops before
// a request is sent, a reply that comes late. A scenario asks for them in
// its Knobs (info().defaults.faults); `--fault` replaces them. See README,
// "Faults: lost commits, dropped connections, late replies".
//
// Only a run with faults goes through the proxy; without them the workers
// connect directly, as before.

#include <chrono>
#include <string>

namespace pgrace {

enum class FaultKind {
  drop_before_send,  // the connection drops before the request reaches the server: it never runs
  drop_reply,        // the server runs the request; the connection drops before the reply reaches the client
  delay_reply,       // the reply reaches the client `delay` late (a wider race window, no sleep in the code)
};

// Which requests a fault may hit. A request is a Query message, or a batch
// of the extended protocol up to its Sync; only requests that execute
// something count (not libpq preparing a statement).
enum class FaultTarget {
  any,     // every request
  commit,  // only a COMMIT (or END): the request whose lost reply leaves the outcome unknown
};

struct FaultRule {
  FaultKind kind = FaultKind::drop_reply;
  FaultTarget target = FaultTarget::any;
  // Stress mode: the chance (0 < p <= 1) that a targeted request gets this
  // fault, drawn from the seed and the request's place (worker, repetition,
  // iteration, its rank among the worker's requests in that iteration that
  // a rule targets: with only commit rules, the n-th COMMIT), so
  // that one seed injects the same faults on every run. `explore --workers` ignores
  // it: it puts the fault at every targeted request in turn.
  double probability = 1;
  std::chrono::milliseconds delay{0};  // delay_reply only: 1..60000 ms
};

// Parses a rule as `--fault` takes it: the kind, then optionally, in any
// order and separated by ':', the target ("any" or "commit"), the
// probability (a number) and, for delay_reply, the delay ("50ms"):
// "drop_reply:commit", "drop_before_send:0.2", "delay_reply:0.5:20ms".
// Throws pgrace::Error (usage) naming what is wrong.
FaultRule parse_fault_rule(const std::string& text);

// Throws pgrace::Error (usage) for a rule out of range: a probability not
// in (0, 1], a delay_reply without a delay of 1..60000 ms, or a delay on
// another kind.
void validate(const FaultRule& rule);

// "drop_before_send", "drop_reply", "delay_reply".
const char* to_string(FaultKind kind);
// The rule in the form parse_fault_rule() reads, e.g. "drop_reply:commit:1".
std::string to_string(const FaultRule& rule);

}  // namespace pgrace
