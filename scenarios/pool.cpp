// The pool family: an online shop's request handlers, one per worker thread,
// borrowing connections from the application's bounded pool
// (Worker::pool(): as many connections as handlers, an acquire timeout of
// 100 ms) instead of owning one. Every scenario keeps one invariant — no
// request is starved by the pool (no acquire times out) — and each unsafe one
// is the twin of a safe one, so the invariant is shown both to catch the bug
// and to hold without it. In every scenario some requests commit, so a
// starved run is a violation, not a run that tested nothing.

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <thread>

#include "pgrace/scenario.hpp"

namespace pgrace::scenarios {
namespace {

const char* const kNotStarved = "no request starved by the pool";
constexpr long kUnknownProduct = 99;  // a discontinued product, still in old carts

// Four handlers, each handling one request per round; the pool has a
// connection per handler, and an acquire gives up after 100 ms.
Knobs shop_knobs() {
  Knobs knobs;
  knobs.threads = 4;
  knobs.iterations = 4;
  knobs.pool = PoolSettings{4, std::chrono::milliseconds(100)};
  return knobs;
}

// The shop: three products, orders, an audit log. A request spends work_ms
// milliseconds (-o work_ms=N) on a call to the payment provider while it
// holds its connection, as real handlers do.
class Shop : public Scenario {
 public:
  explicit Shop(Options& options) : work_ms_(options.get_int("work_ms", 10, 0, 10'000)) {}

  std::string schema() const override {
    return "CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL, price int NOT NULL);"
           "CREATE TABLE orders (id bigserial PRIMARY KEY, product int NOT NULL REFERENCES products, "
           "handler int NOT NULL);"
           "CREATE TABLE audit_log (id bigserial PRIMARY KEY, order_id bigint NOT NULL, event text NOT NULL)";
  }

  void seed(pqxx::work& tx) override {
    tx.exec("INSERT INTO products VALUES (1, 'kettle', 30), (2, 'toaster', 45), (3, 'teapot', 20)");
  }

  void prepare(pqxx::connection& c) override {
    c.prepare("catalogue", "SELECT id, name, price FROM products ORDER BY id");
    c.prepare("price", "SELECT price FROM products WHERE id = $1");
    c.prepare("place_order", "INSERT INTO orders (product, handler) VALUES ($1, $2) RETURNING id");
    c.prepare("audit", "INSERT INTO audit_log (order_id, event) VALUES ($1, $2)");
  }

  std::vector<Invariant> invariants() const override { return {no_outcome(kNotStarved, OutcomeClass::pool_timeout)}; }

 protected:
  // The payment provider confirms the charge.
  void charge_card() const { std::this_thread::sleep_for(std::chrono::milliseconds(work_ms_)); }

  // A read request: the catalogue, on one pooled connection.
  static TxResult browse(Worker& w) {
    Lease db = w.pool().acquire();
    pqxx::work tx(*db);
    tx.exec_prepared("catalogue");
    tx.commit();
    return TxResult::committed;
  }

 private:
  long work_ms_;
};

// Even rounds are read requests; in odd rounds every handler places an order.
class NestedAcquire : public Shop {
 public:
  using Shop::Shop;
  static ScenarioInfo info() {
    return {"pool.nested_acquire",
            "The request handler that takes a second pooled connection while holding its first: it "
            "places an order on one connection and, before committing, writes the audit entry on "
            "another (so that the entry would survive a rollback). As soon as as many orders arrive at "
            "once as the pool has connections, every handler holds one connection and waits for a "
            "second that only another waiting handler could free, until the acquire times out: the "
            "production incident where every API request hangs for the pool timeout and then fails "
            "with a 500 once traffic reaches the pool size, though the database is idle. Violates \"no "
            "request starved by the pool\" on every run.",
            expect_violation({kNotStarved}), shop_knobs()};
  }
  TxResult transaction(Worker& w) override {
    if (w.iteration() % 2 == 0) return browse(w);
    Lease db = w.pool().acquire();
    pqxx::work tx(*db);
    const long order = tx.exec_prepared1("place_order", w.uniform(1, 3), w.index())[0].as<long>();
    charge_card();
    Lease audit = w.pool().acquire();  // the bug: a second connection while the first is held
    pqxx::work audit_tx(*audit);
    audit_tx.exec_prepared0("audit", order, "placed");
    audit_tx.commit();
    tx.commit();
    return TxResult::committed;
  }
};

class SingleLease : public Shop {
 public:
  using Shop::Shop;
  static ScenarioInfo info() {
    return {"pool.single_lease",
            "The fix for pool.nested_acquire: the same requests, the order and its audit entry written in "
            "one transaction on the one pooled connection the handler holds. A handler never waits for "
            "a connection while holding one, so a pool with a connection per concurrent request never "
            "starves: \"no request starved by the pool\" holds.",
            expect_hold(), shop_knobs()};
  }
  TxResult transaction(Worker& w) override {
    if (w.iteration() % 2 == 0) return browse(w);
    Lease db = w.pool().acquire();
    pqxx::work tx(*db);
    const long order = tx.exec_prepared1("place_order", w.uniform(1, 3), w.index())[0].as<long>();
    charge_card();
    tx.exec_prepared0("audit", order, "placed");
    tx.commit();
    return TxResult::committed;
  }
};

// One request while it is handled: its id and its database connection.
struct RequestContext {
  long id;
  Lease db;
};

// Orders, each request registered as in flight (for the admin page that
// lists them) with its context, which holds the request's lease. In round 1
// every handler gets an order for a discontinued product (a burst of stale
// carts): the application rejects it. The other rounds are healthy orders.
class InFlightShop : public Shop {
 public:
  using Shop::Shop;

  void seed(pqxx::work& tx) override {
    Shop::seed(tx);
    std::lock_guard lock(mutex_);
    in_flight_.clear();  // what the last repetition left (its leases already taken back by pgrace)
  }

 protected:
  RequestContext& begin_request(Worker& w) {
    auto context = std::make_unique<RequestContext>(RequestContext{next_id_++, w.pool().acquire()});
    RequestContext& request = *context;
    std::lock_guard lock(mutex_);
    in_flight_.emplace(request.id, std::move(context));
    return request;
  }

  // Drops the request from the in-flight registry, releasing its connection.
  void end_request(long id) {
    std::lock_guard lock(mutex_);
    in_flight_.erase(id);
  }

  static long product_of(Worker& w) { return w.iteration() == 1 ? kUnknownProduct : w.uniform(1, 3); }

  // Places the order; false (rolled back) when the product does not exist.
  bool place_order(RequestContext& request, Worker& w) {
    const long product = product_of(w);
    pqxx::work tx(*request.db);
    if (tx.exec_prepared("price", product).empty()) return false;
    charge_card();
    tx.exec_prepared1("place_order", product, w.index());
    tx.commit();
    return true;
  }

 private:
  std::atomic<long> next_id_{0};
  std::mutex mutex_;
  std::map<long, std::unique_ptr<RequestContext>> in_flight_;  // guarded by mutex_
};

class Leak : public InFlightShop {
 public:
  using InFlightShop::InFlightShop;
  static ScenarioInfo info() {
    return {"pool.leak",
            "The error path that never returns its connection: each request is registered as in "
            "flight with its context, which holds its pooled connection, and only the success path "
            "unregisters it. A burst of orders for a discontinued product is rejected (404) and leaves "
            "one connection leased per failed request; afterwards the pool is empty and every healthy "
            "request times out waiting for a connection: the production incident where a few bad "
            "requests take the whole service down until it is restarted, while the database reports "
            "idle connections. Violates \"no request starved by the pool\" on every run.",
            expect_violation({kNotStarved}), shop_knobs()};
  }
  TxResult transaction(Worker& w) override {
    RequestContext& request = begin_request(w);
    if (!place_order(request, w)) return TxResult::rejected;  // the bug: still in flight, still leased
    end_request(request.id);
    return TxResult::committed;
  }
};

class ReleaseOnError : public InFlightShop {
 public:
  using InFlightShop::InFlightShop;
  static ScenarioInfo info() {
    return {"pool.release_on_error",
            "The fix for pool.leak: the same requests, unregistered (and their connection released) by "
            "a scope guard on every path, the rejection and any exception included. The burst of "
            "rejected orders returns its connections and the healthy requests after it find the pool "
            "full: \"no request starved by the pool\" holds.",
            expect_hold(), shop_knobs()};
  }
  TxResult transaction(Worker& w) override {
    RequestContext& request = begin_request(w);
    const EndRequest end{*this, request.id};
    return place_order(request, w) ? TxResult::committed : TxResult::rejected;
  }

 private:
  // Ends the request when it goes out of scope, however the handler leaves.
  struct EndRequest {
    ReleaseOnError& shop;
    long id;
    ~EndRequest() { shop.end_request(id); }
  };
};

}  // namespace

PGRACE_REGISTER_SCENARIO(NestedAcquire);
PGRACE_REGISTER_SCENARIO(SingleLease);
PGRACE_REGISTER_SCENARIO(Leak);
PGRACE_REGISTER_SCENARIO(ReleaseOnError);

}  // namespace pgrace::scenarios
