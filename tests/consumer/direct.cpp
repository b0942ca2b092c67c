// consumer.direct: a scenario compiled into the executable itself. Each
// worker increments one counter with an atomic UPDATE; the counter must end
// at the number of committed transactions.

#include <pgrace/scenario.hpp>
#include <pqxx/pqxx>

#include "embedded_sql.hpp"

namespace {

class Direct : public pgrace::Scenario {
 public:
  static pgrace::ScenarioInfo info() {
    pgrace::Knobs knobs;
    knobs.threads = 4;
    knobs.iterations = 5;
    return {"consumer.direct", "Atomic increments: the counter equals the committed transactions.",
            pgrace::expect_hold(), knobs};
  }
  explicit Direct(pgrace::Options&) {}
  std::string schema() const override { return pgrace_sql::embedded_sql("counter.sql"); }
  void seed(pqxx::work& tx) override { tx.exec("INSERT INTO counter VALUES (0)"); }
  pgrace::TxResult transaction(pgrace::Worker& w) override {
    pqxx::work tx(w.connection());
    tx.exec("UPDATE counter SET n = n + 1");
    tx.commit();
    return pgrace::TxResult::committed;
  }
  std::vector<pgrace::Invariant> invariants() const override {
    return {pgrace::predicate(
        "counter equals the committed transactions",
        [](const pgrace::CheckContext& c) -> std::vector<std::string> {
          const long n = c.tx.exec("SELECT n FROM counter")[0][0].as<long>();
          const long committed = c.count(pgrace::OutcomeClass::committed);
          if (n == committed) return {};
          return {"counter=" + std::to_string(n) + " committed=" + std::to_string(committed)};
        },
        /*during_run=*/false)};
  }
};

}  // namespace

PGRACE_REGISTER_SCENARIO(Direct);
