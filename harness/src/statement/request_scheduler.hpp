#pragma once
// Statement-level control of a stress scenario's workers: the gate the wire
// proxy calls for every request a worker sends. While an execution is
// armed, each worker's request is held until the explorer grants it, so
// that exactly one worker's next request goes through at a time, in the
// order a schedule dictates. Internal to pgrace.

#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "faults/worker_connection.hpp"
#include "pgrace/faults.hpp"
#include "wire/proxy.hpp"

namespace pgrace::detail {

// Where a worker is, as the explorer sees it.
enum class WorkerSpot {
  running,    // in the scenario's C++ code (or its request is on the way to the proxy)
  pending,    // its next request is held at the gate
  in_flight,  // its request was granted and has not completed
  finished,   // its transaction() loop ended
};

// One request of an execution: who sent it and how it ended.
struct ScheduledRequest {
  int worker = 0;
  WireRequest request;  // completed, status, sqlstate and ended are set when it ends
  bool chosen = true;   // false: let through without a choice (a bare BEGIN, see pending_begin())
  bool waited = false;  // seen blocked on a lock before it completed
  int completed_as = -1;
  int ordinal = 0;              // chosen: its worker's n-th chosen request, from 1 (0: not chosen)
  std::vector<int> blocked_by;  // waited: the workers it waited for when first seen waiting
};

// A fault an execution injects: into worker `worker`'s `ordinal`-th chosen
// request (from 1), if `rule` targets it.
struct PlannedFault {
  int worker = 0;
  int ordinal = 1;
  FaultRule rule;
  bool operator<(const PlannedFault& o) const {
    return std::tie(worker, ordinal, rule.kind) < std::tie(o.worker, o.ordinal, o.rule.kind);
  }
};

class RequestScheduler final : public RequestGate, public FaultedConnections {
 public:
  // Worker i is the connection whose application_name is `clients[i]`;
  // requests of other connections always go through.
  explicit RequestScheduler(std::vector<std::string> clients);

  Fault before_request(const WireRequest& request) override;
  void after_request(const WireRequest& request) override;
  std::optional<WireRequest> take_dropped(int w) override;

  // Starts an execution: every worker is `running`, the record is empty, and
  // from now on the workers' requests wait for grant(). `fault`: the fault it injects.
  void arm(std::optional<PlannedFault> fault = std::nullopt);
  // Whether the planned fault of the execution was injected.
  bool fault_injected() const;
  // While `on`, worker `w`'s connection is being set up (a new one after a
  // drop): its requests go through at once and are not recorded.
  void set_up(int w, bool on) override;
  // Ends it: lets every held and later request through. Call before the
  // workers are joined, and before the proxy is destroyed.
  void disarm();
  // Worker `w`'s transaction loop ended.
  void finish(int w);

  // Where every worker is now, and the count of changes so far.
  struct Snapshot {
    std::vector<WorkerSpot> spots;
    long generation = 0;
  };
  Snapshot snapshot() const;
  // Waits until something changed since `generation` (see snapshot()), or
  // `deadline` passed.
  void wait_for_change(long generation, Clock::time_point deadline);
  // Lets worker `w`'s pending request through.
  void grant(int w);
  // Whether worker `w`'s pending request changes nothing wherever it runs:
  // a bare BEGIN (or START TRANSACTION: no snapshot, no lock yet), or one
  // that executes nothing (libpq preparing a statement, which libpqxx 6
  // does on first use only, so such requests come and go between
  // executions). The explorer lets it through without a choice.
  bool pending_begin(int w) const;
  // Marks worker `w`'s in-flight request as seen waiting for a lock held by
  // the workers `blockers` (kept from the first time it is marked).
  void mark_waiting(int w, const std::vector<int>& blockers);
  // The requests of the execution so far, in the order they were let through.
  std::vector<ScheduledRequest> record() const;
  // The backend pid of worker `w`'s latest request of the execution that
  // reached the gate (0: none yet): the worker's session, also when its
  // code opened it itself (a scenario file's worker process).
  int last_backend_pid(int w) const;

 private:
  int worker_of(const std::string& client) const;
  static bool is_bare_begin(const std::string& sql);

  const std::vector<std::string> clients_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool armed_ = false;
  long generation_ = 0;  // bumped by every change, for wait_for_change()
  std::vector<WorkerSpot> spots_;
  std::vector<bool> granted_;
  std::vector<bool> pending_begin_;
  std::vector<int> in_flight_;  // per worker: its request's index in record_, or -1
  std::vector<int> chosen_;     // per worker: its chosen requests so far
  std::vector<bool> setting_up_;
  std::vector<std::optional<WireRequest>> dropped_;
  std::optional<PlannedFault> fault_;
  bool fault_injected_ = false;
  std::vector<ScheduledRequest> record_;
  int completed_ = 0;
};

}  // namespace pgrace::detail
