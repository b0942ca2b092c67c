// A job queue worked by three workers, each claiming the first pending job:
// BEGIN (session setup); pick: SELECT the lowest pending id; claim: mark it
// claimed and record the claim; COMMIT. Without a lock on the pick, two
// workers pick the same job and both claim it: the second one's UPDATE
// waits for the first one's row lock and then goes ahead, since nothing
// re-checks the status. With FOR UPDATE SKIP LOCKED each worker skips the
// job another one holds and nothing ever waits. Every interleaving of the
// three workers' steps (1680) is explored.

#include <pqxx/pqxx>

#include "pgrace/scenario.hpp"

namespace pgrace::scenarios {
namespace {

class JobQueueBase : public Scenario {
 public:
  explicit JobQueueBase(Options&) {}
  std::string schema() const override {
    return "CREATE TABLE jobs (id int PRIMARY KEY, status text NOT NULL);"
           "CREATE TABLE claims (job int NOT NULL REFERENCES jobs, worker text NOT NULL)";
  }
  void seed(pqxx::work& tx) override { tx.exec("INSERT INTO jobs SELECT g, 'pending' FROM generate_series(1, 3) g"); }
  std::vector<Invariant> invariants() const override {
    return {no_rows("each job is claimed by one worker",
                    "SELECT job, string_agg(worker, ',' ORDER BY worker) AS workers FROM claims GROUP BY job "
                    "HAVING count(*) > 1 ORDER BY job")};
  }

 protected:
  // Worker `name`: pick with `pick_sql`, claim what it picked, commit.
  static Session worker(const std::string& name, const std::string& pick_sql) {
    return Session{name,
                   "BEGIN",
                   {sql_step(name + "_pick", pick_sql),
                    cpp_step(name + "_claim",
                             [name](StepContext& ctx) {
                               const std::string& picked = ctx.observed(name + "_pick");  // "" when none is pending
                               if (picked.empty()) return;
                               ctx.exec("UPDATE jobs SET status = 'claimed' WHERE id = " + picked);
                               ctx.exec("INSERT INTO claims VALUES (" + picked + ", '" + name + "')");
                             }),
                    sql_step(name + "_commit", "COMMIT")}};
  }
  static std::vector<Session> workers(const std::string& pick_sql) {
    return {worker("w1", pick_sql), worker("w2", pick_sql), worker("w3", pick_sql)};
  }
};

class ClaimUnlocked : public JobQueueBase {
 public:
  using JobQueueBase::JobQueueBase;
  static ScenarioInfo info() {
    return {"queue.claim_unlocked",
            "A job queue whose workers pick the first pending job with a plain SELECT, then claim it: two "
            "workers that pick before either commits claim the same job, and the job runs twice (a double "
            "charge, a duplicate e-mail). Three workers, every interleaving: violates \"each job is claimed by "
            "one worker\" at READ COMMITTED; the reproducer needs two workers and two context switches.",
            expect_violation({"each job is claimed by one worker"}), Knobs{}};
  }
  std::vector<Session> sessions() const override {
    return workers("SELECT id FROM jobs WHERE status = 'pending' ORDER BY id LIMIT 1");
  }
};

class ClaimSkipLocked : public JobQueueBase {
 public:
  using JobQueueBase::JobQueueBase;
  static ScenarioInfo info() {
    return {"queue.claim_skip_locked",
            "queue.claim_unlocked with the pick done as SELECT ... FOR UPDATE SKIP LOCKED: a worker skips a job "
            "another worker has picked and not yet committed, so every job is claimed once, in every "
            "interleaving of the three workers, and no step ever waits.",
            expect_hold(), Knobs{}};
  }
  std::vector<Session> sessions() const override {
    return workers("SELECT id FROM jobs WHERE status = 'pending' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED");
  }
};

PGRACE_REGISTER_SCENARIO(ClaimUnlocked);
PGRACE_REGISTER_SCENARIO(ClaimSkipLocked);

}  // namespace
}  // namespace pgrace::scenarios
