// The transfer family: moving money between accounts, safely and in the ways
// that lose it. Every scenario keeps the same two invariants — no balance is
// ever negative, and the total of all balances never changes — and each unsafe
// one is the twin of a safe one, so the invariants are shown both to catch the
// bug and to hold without it.

#include <chrono>
#include <pqxx/pqxx>
#include <thread>

#include "embedded_sql.hpp"
#include "pgrace/scenario.hpp"

namespace pgrace::scenarios {
namespace {

const char* const kNoNegative = "no negative balance";
const char* const kConserved = "total balance is conserved";
const char* const kNoDeadlock = "no transaction lost to a deadlock";
// Every account that was ever overdrawn in a committed state (sql/transfer.sql
// records them by trigger), with its lowest balance.
const char* const kOverdraftHistory =
    "SELECT account AS id, min(balance) AS lowest_balance FROM overdrafts GROUP BY account ORDER BY account";

struct Move {
  long from, to, amount;
};

// Defaults of the transfer options (-o accounts=, balance=, max_amount=).
struct TransferDefaults {
  long accounts = 4, balance = 100, max_amount = 100;
};

// The options' ranges: a million accounts seed in about a second, and the
// expected total, accounts x balance, stays below 10^18 < 2^63, so neither
// it nor any balance overflows (a bigint column, long in C++).
constexpr long kMaxAccounts = 1'000'000;
constexpr long kMaxMoney = 1'000'000'000'000;  // balance and max_amount
constexpr long kMaxThinkUs = 10'000'000;       // 10 s
static_assert(kMaxAccounts * kMaxMoney <= 1'000'000'000'000'000'000);

// Accounts 1..accounts, each starting with `balance`; workers move random
// amounts in 1..max_amount between two distinct random accounts. Between
// reading and writing, a transfer spends think_us microseconds, as application
// code does (a fraud check, a call to another service): the window in which
// the round's other transfers run. Safe and unsafe twins get the same window.
class TransferBase : public Scenario {
 public:
  explicit TransferBase(Options& options, TransferDefaults d = TransferDefaults{})
      : accounts_(options.get_int("accounts", d.accounts, 2, kMaxAccounts)),
        balance_(options.get_int("balance", d.balance, 0, kMaxMoney)),
        max_amount_(options.get_int("max_amount", d.max_amount, 1, kMaxMoney)),
        think_us_(options.get_int("think_us", 500, 0, kMaxThinkUs)) {}

  std::string schema() const override { return embedded_sql("transfer.sql"); }

  void seed(pqxx::work& tx) override {
    tx.exec_params("INSERT INTO accounts SELECT g, $2 FROM generate_series(1, $1) g", accounts_, balance_);
  }

  void prepare(pqxx::connection& c) override {
    c.prepare("balance", "SELECT balance FROM accounts WHERE id = $1");
    c.prepare("balance_for_update", "SELECT balance FROM accounts WHERE id = $1 FOR UPDATE");
    c.prepare("lock_pair", "SELECT id, balance FROM accounts WHERE id IN ($1, $2) ORDER BY id FOR UPDATE");
    c.prepare("set_balance", "UPDATE accounts SET balance = $2 WHERE id = $1");
    c.prepare("debit", "UPDATE accounts SET balance = balance - $2 WHERE id = $1");
    c.prepare("credit", "UPDATE accounts SET balance = balance + $2 WHERE id = $1");
  }

  std::vector<Invariant> invariants() const override {
    return {no_rows(kNoNegative, kOverdraftHistory),
            equals(kConserved, "SELECT sum(balance) FROM accounts", std::to_string(accounts_ * balance_))};  // < 10^18
  }

 protected:
  void think() const {
    if (think_us_ > 0) std::this_thread::sleep_for(std::chrono::microseconds(think_us_));
  }

  Move pick(Worker& w) const {
    long from = w.uniform(1, accounts_);
    long to = w.uniform(1, accounts_ - 1);
    if (to >= from) ++to;
    return {from, to, w.uniform(1, max_amount_)};
  }

  // Debits and credits with relative updates, in id order (so that these
  // updates alone never deadlock), and commits.
  static TxResult move_and_commit(pqxx::work& tx, const Move& m) {
    if (m.from < m.to) tx.exec_prepared0("debit", m.from, m.amount);
    tx.exec_prepared0("credit", m.to, m.amount);
    if (m.from > m.to) tx.exec_prepared0("debit", m.from, m.amount);
    tx.commit();
    return TxResult::committed;
  }

  // Reads both balances without locks, checks funds in C++, writes the
  // computed balances back (in id order, so the writes never deadlock).
  TxResult read_check_write(Worker& w, const Move& m) const {
    pqxx::work tx(w.connection());
    const long from_balance = tx.exec_prepared1("balance", m.from)[0].as<long>();
    const long to_balance = tx.exec_prepared1("balance", m.to)[0].as<long>();
    if (from_balance < m.amount) return TxResult::rejected;  // the work's destructor rolls back
    think();
    if (m.from < m.to) tx.exec_prepared0("set_balance", m.from, from_balance - m.amount);
    tx.exec_prepared0("set_balance", m.to, to_balance + m.amount);
    if (m.from > m.to) tx.exec_prepared0("set_balance", m.from, from_balance - m.amount);
    tx.commit();
    return TxResult::committed;
  }

  long accounts_, balance_, max_amount_, think_us_;
};

class ReadModifyWrite : public TransferBase {
 public:
  using TransferBase::TransferBase;
  static ScenarioInfo info() {
    return {"transfer.read_modify_write",
            "Reads both balances, checks funds in C++ and writes the computed balances back, at READ "
            "COMMITTED without locks. Two transfers touching one account both read the old balance and "
            "the later write silently discards the earlier one (a lost update): money is created or "
            "destroyed, violating \"total balance is conserved\".",
            expect_violation({kConserved}), Knobs{}};
  }
  TxResult transaction(Worker& w) override { return read_check_write(w, pick(w)); }
};

class CheckThenDebit : public TransferBase {
 public:
  using TransferBase::TransferBase;
  static ScenarioInfo info() {
    return {"transfer.check_then_debit",
            "Checks the balance with a plain SELECT, then debits with UPDATE ... SET balance = balance - "
            "amount. The updates are atomic, so the total is conserved, but two debits can both pass the "
            "check against the same balance before either commits: the account is overdrawn, violating "
            "\"no negative balance\".",
            expect_violation({kNoNegative}), Knobs{}};
  }
  TxResult transaction(Worker& w) override {
    const Move m = pick(w);
    pqxx::work tx(w.connection());
    if (tx.exec_prepared1("balance", m.from)[0].as<long>() < m.amount) return TxResult::rejected;
    think();
    return move_and_commit(tx, m);
  }
};

class ForUpdate : public TransferBase {
 public:
  using TransferBase::TransferBase;
  static ScenarioInfo info() {
    return {"transfer.for_update",
            "Locks both rows with SELECT ... FOR UPDATE in id order, checks funds under the lock, then "
            "debits and credits. The check and the write see the same balance and the lock order is "
            "global, so no balance goes negative, the total is conserved and no transaction deadlocks.",
            expect_hold(), Knobs{}};
  }
  std::vector<Invariant> invariants() const override {
    auto all = TransferBase::invariants();
    all.push_back(no_outcome(kNoDeadlock, OutcomeClass::deadlock));
    return all;
  }
  TxResult transaction(Worker& w) override {
    const Move m = pick(w);
    pqxx::work tx(w.connection());
    long from_balance = 0;
    for (const auto& row : tx.exec_prepared("lock_pair", m.from, m.to))
      if (row[0].as<long>() == m.from) from_balance = row[1].as<long>();
    if (from_balance < m.amount) return TxResult::rejected;
    think();
    return move_and_commit(tx, m);
  }
};

class ForUpdateUnordered : public ForUpdate {
 public:
  using ForUpdate::ForUpdate;
  static ScenarioInfo info() {
    Knobs knobs;
    knobs.iterations = 15;  // each deadlock stalls its round for deadlock_timeout
    return {"transfer.for_update_unordered",
            "Like transfer.for_update, but locks the source row first and then the target. Two transfers "
            "in opposite directions each hold one lock and wait for the other's: PostgreSQL aborts one "
            "with a deadlock (40P01), violating \"no transaction lost to a deadlock\". Money stays safe.",
            expect_violation({kNoDeadlock}), knobs};
  }
  TxResult transaction(Worker& w) override {
    const Move m = pick(w);
    pqxx::work tx(w.connection());
    const long from_balance = tx.exec_prepared1("balance_for_update", m.from)[0].as<long>();
    think();
    tx.exec_prepared1("balance_for_update", m.to);
    if (from_balance < m.amount) return TxResult::rejected;
    return move_and_commit(tx, m);
  }
};

class SerializableRetry : public TransferBase {
 public:
  using TransferBase::TransferBase;
  static ScenarioInfo info() {
    Knobs knobs;
    knobs.isolation = Isolation::serializable;
    knobs.retry.max_retries = 100;
    return {"transfer.serializable_retry",
            "The read-modify-write transfer of transfer.read_modify_write, unchanged, at SERIALIZABLE "
            "with retries on 40001 and 40P01. PostgreSQL aborts whichever transaction would make the "
            "history non-serializable and the retry redoes it on fresh data: no negative balance, total "
            "conserved. The report counts the serialization failures and retries it cost.",
            expect_hold(), knobs};
  }
  TxResult transaction(Worker& w) override { return read_check_write(w, pick(w)); }
};

// The pool scenarios: accounts with a CHECK (balance >= 0), credit first, then
// debit; an overdraft fails the debit and the transfer rolls back.
class PoolTransferBase : public TransferBase {
 public:
  using TransferBase::TransferBase;
  std::string schema() const override { return embedded_sql("transfer.sql") + embedded_sql("transfer_checked.sql"); }
};

class PoolMisuse : public PoolTransferBase {
 public:
  // Amounts up to twice a balance, so that debits fail their CHECK often:
  // each failure is a chance for half a transfer to persist.
  explicit PoolMisuse(Options& options) : PoolTransferBase(options, {4, 100, 200}) {}
  static ScenarioInfo info() {
    Knobs knobs;
    knobs.iterations = 20;  // 10 rounds left the total intact in 1 of 100 runs; 20 in none of 600
    ScenarioInfo i{"transfer.pool_misuse",
                   "The classic Node.js bug: BEGIN, the credit, the debit and COMMIT or ROLLBACK are each "
                   "sent with pool.query(), so they land on whichever pooled connection is free. When the "
                   "debit fails its CHECK (balance >= 0), the ROLLBACK goes to another connection and does "
                   "not undo the credit, which already committed elsewhere: half a transfer persists, "
                   "violating \"total balance is conserved\".",
                   expect_violation({kConserved}), knobs};
    i.uses_shared_pool = true;
    return i;
  }
  TxResult transaction(Worker& w) override {
    const Move m = pick(w);
    SharedPool& pool = w.shared_pool();
    const std::string from = std::to_string(m.from), to = std::to_string(m.to), amount = std::to_string(m.amount);
    pool.query("BEGIN");
    try {
      pool.query("UPDATE accounts SET balance = balance + $2 WHERE id = $1", {to, amount});
      pool.query("UPDATE accounts SET balance = balance - $2 WHERE id = $1", {from, amount});
      pool.query("COMMIT");
      return TxResult::committed;
    } catch (const pqxx::sql_error&) {
      pool.query("ROLLBACK");
      throw;
    }
  }
};

class PoolCheckout : public PoolTransferBase {
 public:
  using PoolTransferBase::PoolTransferBase;
  static ScenarioInfo info() {
    Knobs knobs;
    knobs.iterations = 20;  // credit-then-debit deadlocks in opposite transfers; each costs deadlock_timeout
    return {"transfer.pool_checkout",
            "The fix for transfer.pool_misuse: the same credit-then-debit transfer, with every statement "
            "on one checked-out connection. A debit that fails its CHECK (balance >= 0) rolls back the "
            "credit with it: the total is conserved and no balance goes negative.",
            expect_hold(), knobs};
  }
  TxResult transaction(Worker& w) override {
    const Move m = pick(w);
    pqxx::work tx(w.connection());
    tx.exec_prepared0("credit", m.to, m.amount);
    tx.exec_prepared0("debit", m.from, m.amount);
    tx.commit();
    return TxResult::committed;
  }
};

// The article example: alice and bob start with 100 each; 20 concurrent
// transfers of 10 go from alice to bob.
class ArticleBase : public Scenario {
 public:
  explicit ArticleBase(Options&) {}
  static Knobs article_knobs() {
    Knobs knobs;
    knobs.threads = 20;
    knobs.iterations = 1;
    return knobs;
  }
  std::string schema() const override { return embedded_sql("transfer.sql"); }
  void seed(pqxx::work& tx) override { tx.exec("INSERT INTO accounts VALUES (1, 100), (2, 100)"); }
  void prepare(pqxx::connection& c) override {
    c.prepare("lock_alice", "SELECT balance FROM accounts WHERE id = 1 FOR UPDATE");
    c.prepare("move",
              "UPDATE accounts SET balance = balance + CASE id WHEN 1 THEN -10 ELSE 10 END "
              "WHERE id IN (1, 2)");
  }
  std::vector<Invariant> invariants() const override {
    return {no_rows(kNoNegative, kOverdraftHistory), equals(kConserved, "SELECT sum(balance) FROM accounts", "200")};
  }
};

class ArticleFix : public ArticleBase {
 public:
  using ArticleBase::ArticleBase;
  static ScenarioInfo info() {
    return {"transfer.article_fix",
            "The well-known article's \"fix\": alice and bob start with 100; 20 concurrent transfers of "
            "10 from alice to bob lock alice's row with FOR UPDATE but never check her funds. The lock "
            "serialises the transfers, so all 20 commit and alice ends at -100, violating \"no negative "
            "balance\". Locking alone is not a funds check.",
            expect_violation({kNoNegative}), article_knobs()};
  }
  TxResult transaction(Worker& w) override {
    pqxx::work tx(w.connection());
    tx.exec_prepared1("lock_alice");
    tx.exec_prepared0("move");
    tx.commit();
    return TxResult::committed;
  }
};

class ArticleGuarded : public ArticleBase {
 public:
  using ArticleBase::ArticleBase;
  static ScenarioInfo info() {
    return {"transfer.article_guarded",
            "The article example done right: FOR UPDATE on alice's row and the funds check under the "
            "lock. Of 20 concurrent transfers of 10, exactly 10 commit and 10 are rejected; alice ends "
            "at 0 and bob at 200.",
            expect_hold(), article_knobs()};
  }
  std::vector<Invariant> invariants() const override {
    auto all = ArticleBase::invariants();
    all.push_back(predicate(
        "transfers stop exactly when alice's funds run out",
        [](const CheckContext& c) -> std::vector<std::string> {
          const long committed = c.count(OutcomeClass::committed), rejected = c.count(OutcomeClass::rejected);
          const long expected = std::min(c.transactions, 10L);
          const auto rows = c.tx.exec("SELECT balance FROM accounts ORDER BY id");
          const long alice = rows[0][0].as<long>(), bob = rows[1][0].as<long>();
          if (committed == expected && rejected == c.transactions - expected && alice == 100 - 10 * expected &&
              bob == 100 + 10 * expected)
            return {};
          return {"committed=" + std::to_string(committed) + " rejected=" + std::to_string(rejected) +
                  " alice=" + std::to_string(alice) + " bob=" + std::to_string(bob) + ", expected " +
                  std::to_string(expected) + " committed"};
        },
        /*during_run=*/false));
    return all;
  }
  TxResult transaction(Worker& w) override {
    pqxx::work tx(w.connection());
    if (tx.exec_prepared1("lock_alice")[0].as<long>() < 10) return TxResult::rejected;
    tx.exec_prepared0("move");
    tx.commit();
    return TxResult::committed;
  }
};

}  // namespace

PGRACE_REGISTER_SCENARIO(ReadModifyWrite);
PGRACE_REGISTER_SCENARIO(CheckThenDebit);
PGRACE_REGISTER_SCENARIO(ForUpdate);
PGRACE_REGISTER_SCENARIO(ForUpdateUnordered);
PGRACE_REGISTER_SCENARIO(SerializableRetry);
PGRACE_REGISTER_SCENARIO(PoolMisuse);
PGRACE_REGISTER_SCENARIO(PoolCheckout);
PGRACE_REGISTER_SCENARIO(ArticleFix);
PGRACE_REGISTER_SCENARIO(ArticleGuarded);

}  // namespace pgrace::scenarios
