// The transfer race by construction: two sessions each move 10 along a chain
// of accounts (1 -> 2 and 2 -> 3) with the read-modify-write transfer, one
// step at a time. In the one schedule where both read before either writes,
// the second write puts back a balance the first one changed: money is lost.
// The FOR UPDATE twin locks what it reads and holds in every schedule.

#include <pqxx/pqxx>

#include "embedded_sql.hpp"
#include "pgrace/scenario.hpp"

namespace pgrace::scenarios {
namespace {

// Accounts ever overdrawn in a committed state (recorded by sql/transfer.sql's trigger).
const char* const kOverdraftHistory =
    "SELECT account AS id, min(balance) AS lowest_balance FROM overdrafts GROUP BY account ORDER BY account";

class LostUpdateScheduleBase : public Scenario {
 public:
  explicit LostUpdateScheduleBase(Options&) {}
  std::string schema() const override { return embedded_sql("transfer.sql"); }
  void seed(pqxx::work& tx) override { tx.exec("INSERT INTO accounts VALUES (1, 100), (2, 100), (3, 100)"); }
  std::vector<Invariant> invariants() const override {
    return {no_rows("no negative balance", kOverdraftHistory),
            equals("total balance is conserved", "SELECT sum(balance) FROM accounts", "300")};
  }

 protected:
  // Session `name` moves 10 from account `from` to `to`: BEGIN, read both
  // balances (locking them if `lock`), write the computed balances, COMMIT.
  static Session transfer(const std::string& name, const std::string& n, int from, int to, bool lock) {
    const std::string f = std::to_string(from), t = std::to_string(to);
    const std::string read_sql =
        "SELECT id, balance FROM accounts WHERE id IN (" + f + ", " + t + ") ORDER BY id" + (lock ? " FOR UPDATE" : "");
    return Session{name,
                   "",
                   {sql_step("b" + n, "BEGIN"), sql_step("r" + n, read_sql),
                    cpp_step("w" + n,
                             [n, from, to](StepContext& ctx) {
                               // The read observed "id,balance;id,balance" in id order.
                               const std::string& rows = ctx.observed("r" + n);
                               const long first = std::stol(rows.substr(rows.find(',') + 1));
                               const long second = std::stol(rows.substr(rows.rfind(',') + 1));
                               const long from_balance = from < to ? first : second;
                               const long to_balance = from < to ? second : first;
                               ctx.exec("UPDATE accounts SET balance = " + std::to_string(from_balance - 10) +
                                        " WHERE id = " + std::to_string(from));
                               ctx.exec("UPDATE accounts SET balance = " + std::to_string(to_balance + 10) +
                                        " WHERE id = " + std::to_string(to));
                             }),
                    sql_step("c" + n, "COMMIT")}};
  }
};

class LostUpdateSchedule : public LostUpdateScheduleBase {
 public:
  using LostUpdateScheduleBase::LostUpdateScheduleBase;
  static ScenarioInfo info() {
    return {"transfer.lost_update_schedule",
            "The read-modify-write transfer of transfer.read_modify_write, made deterministic: session 1 moves 10 "
            "from account 1 to 2, session 2 from 2 to 3, in the schedule b1 b2 r1 r2 w1 c1 w2 c2. Both read "
            "account 2 at 100; session 2 writes back 90 over session 1's 110, losing 10: violates \"total "
            "balance is conserved\" at READ COMMITTED, on every run.",
            expect_violation({"total balance is conserved"}), Knobs{}};
  }
  std::vector<Session> sessions() const override {
    return {transfer("s1", "1", 1, 2, false), transfer("s2", "2", 2, 3, false)};
  }
  std::vector<std::vector<std::string>> schedules() const override {
    return {{"b1", "b2", "r1", "r2", "w1", "c1", "w2", "c2"}};
  }
};

class LostUpdateScheduleForUpdate : public LostUpdateScheduleBase {
 public:
  using LostUpdateScheduleBase::LostUpdateScheduleBase;
  static ScenarioInfo info() {
    return {"transfer.lost_update_schedule_for_update",
            "transfer.lost_update_schedule with the read done as SELECT ... FOR UPDATE (both rows, in id "
            "order), in every interleaving of the two sessions' steps. A session that reads a locked row waits "
            "until the other commits and then reads the committed balance: the total is conserved in every "
            "schedule.",
            expect_hold(), Knobs{}};
  }
  std::vector<Session> sessions() const override {
    return {transfer("s1", "1", 1, 2, true), transfer("s2", "2", 2, 3, true)};
  }
};

}  // namespace

PGRACE_REGISTER_SCENARIO(LostUpdateSchedule);
PGRACE_REGISTER_SCENARIO(LostUpdateScheduleForUpdate);

}  // namespace pgrace::scenarios
