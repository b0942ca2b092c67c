// consumer.via_object: a scenario compiled into an OBJECT library that the
// executable links. Its registration must survive the link like the
// executable's own. One worker reads one row: nothing can go wrong.

#include <pgrace/scenario.hpp>
#include <pqxx/pqxx>

namespace {

class ViaObject : public pgrace::Scenario {
 public:
  static pgrace::ScenarioInfo info() {
    pgrace::Knobs knobs;
    knobs.threads = 1;
    knobs.iterations = 1;
    return {"consumer.via_object", "One read: holds.", pgrace::expect_hold(), knobs};
  }
  explicit ViaObject(pgrace::Options&) {}
  std::string schema() const override { return "CREATE TABLE t (id int PRIMARY KEY);"; }
  void seed(pqxx::work& tx) override { tx.exec("INSERT INTO t VALUES (1)"); }
  pgrace::TxResult transaction(pgrace::Worker& w) override {
    pqxx::work tx(w.connection());
    tx.exec("SELECT id FROM t");
    tx.commit();
    return pgrace::TxResult::committed;
  }
  std::vector<pgrace::Invariant> invariants() const override {
    return {pgrace::no_rows("t keeps its row", "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM t)")};
  }
};

}  // namespace

PGRACE_REGISTER_SCENARIO(ViaObject);
