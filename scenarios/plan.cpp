// Plan invariants: "this query could use an index". A lookup that works on
// a developer's ten rows becomes a full table scan on production's ten
// million when no index serves it: the missing index on a foreign key, and
// the index that exists but that the query cannot use because it wraps the
// column in a function (the query an ORM generates for a case-insensitive
// match). These scenarios have no concurrent work: they only check plans
// (uses_index() plans with seq scans disabled, so a Seq Scan that remains
// means no usable index exists).

#include <pqxx/pqxx>

#include "pgrace/scenario.hpp"

namespace pgrace::scenarios {
namespace {

const char* const kOrdersByCustomer = "orders of a customer are found through an index";
const char* const kCustomerByEmail = "a customer is found by e-mail through an index";

class OrdersBase : public Scenario {
 public:
  explicit OrdersBase(Options&) {}
  void seed(pqxx::work& tx) override {
    tx.exec("INSERT INTO customers SELECT g, 'customer' || g || '@example.com' FROM generate_series(1, 10) g");
    tx.exec("INSERT INTO orders (customer_id, total) SELECT 1 + g % 10, g FROM generate_series(1, 30) g");
  }
  std::vector<Invariant> invariants() const override {
    return {uses_index(kOrdersByCustomer, "SELECT id, total FROM orders WHERE customer_id = $1 ORDER BY id", "orders",
                       {"7"})};
  }

 protected:
  static std::string tables() {
    return "CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL);"
           "CREATE TABLE orders (id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers, "
           "total numeric NOT NULL);";
  }
};

class MissingIndex : public OrdersBase {
 public:
  using OrdersBase::OrdersBase;
  static ScenarioInfo info() {
    return {"plan.missing_index",
            "The order history page looks up a customer's orders by customer_id, a foreign key with no index "
            "(PostgreSQL indexes the referenced key, never the referencing column). Fast in every test, it becomes "
            "a full scan of the orders table in production: the page times out once the table is large, and "
            "deleting a customer scans it too. Violates \"" +
                std::string(kOrdersByCustomer) +
                "\": even with seq scans disabled the plan reads the whole orders table (through its primary key, "
                "for the ORDER BY id).",
            expect_violation({kOrdersByCustomer}), Knobs{}};
  }
  std::string schema() const override { return tables(); }
};

class Indexed : public OrdersBase {
 public:
  using OrdersBase::OrdersBase;
  static ScenarioInfo info() {
    return {"plan.indexed",
            "plan.missing_index with CREATE INDEX ON orders (customer_id): the lookup can use the index, so it "
            "stays an index scan however large the table grows. Holds.",
            expect_hold(), Knobs{}};
  }
  std::string schema() const override { return tables() + "CREATE INDEX orders_customer_idx ON orders (customer_id);"; }
};

class CustomersBase : public OrdersBase {
 public:
  using OrdersBase::OrdersBase;
  std::vector<Invariant> invariants() const override {
    return {uses_index(kCustomerByEmail, "SELECT id FROM customers WHERE lower(email) = lower($1)", "customers",
                       {"Customer7@Example.com"})};
  }
};

class FunctionOnIndexedColumn : public CustomersBase {
 public:
  using CustomersBase::CustomersBase;
  static ScenarioInfo info() {
    return {"plan.function_on_indexed_column",
            "The login lookup matches e-mail case-insensitively, WHERE lower(email) = lower($1), as ORMs generate "
            "for an \"iexact\" filter, while the unique index is on email itself. The index exists, so a review "
            "sees it; but an index on email cannot serve lower(email), so every login scans the whole customers "
            "table, and logins slow down as sign-ups grow. Violates \"" +
                std::string(kCustomerByEmail) + "\".",
            expect_violation({kCustomerByEmail}), Knobs{}};
  }
  std::string schema() const override {
    return tables() + "CREATE UNIQUE INDEX customers_email_idx ON customers (email);";
  }
};

class ExpressionIndex : public CustomersBase {
 public:
  using CustomersBase::CustomersBase;
  static ScenarioInfo info() {
    return {"plan.expression_index",
            "plan.function_on_indexed_column with the index on the expression the query uses, "
            "CREATE UNIQUE INDEX ON customers (lower(email)): the lookup is an index scan. Holds.",
            expect_hold(), Knobs{}};
  }
  std::string schema() const override {
    return tables() + "CREATE UNIQUE INDEX customers_email_lower_idx ON customers (lower(email));";
  }
};

}  // namespace

PGRACE_REGISTER_SCENARIO(MissingIndex);
PGRACE_REGISTER_SCENARIO(Indexed);
PGRACE_REGISTER_SCENARIO(FunctionOnIndexedColumn);
PGRACE_REGISTER_SCENARIO(ExpressionIndex);

}  // namespace pgrace::scenarios
