"""Buys one unit of product 1, PGRACE_ITERATIONS times, the way given as
the first argument:

  check_then_act  reads the stock, checks it, then writes stock - 1 back:
                  two buyers that read the same stock sell two units and
                  lower the stock by one (a lost update);
  conditional     lowers the stock in one statement that checks it
                  (UPDATE ... WHERE stock >= 1), so no sale is lost.

Connects with DATABASE_URL, as any psycopg 3 application would."""
import os
import sys

import psycopg


def check_then_act(conn):
    (stock,) = conn.execute("SELECT stock FROM products WHERE id = 1").fetchone()
    if stock < 1:
        return False
    conn.execute("UPDATE products SET stock = %s WHERE id = 1", (stock - 1,))
    conn.execute("INSERT INTO orders (product_id, quantity) VALUES (1, 1)")
    return True


def conditional(conn):
    sold = conn.execute("UPDATE products SET stock = stock - 1 WHERE id = 1 AND stock >= 1 RETURNING stock").fetchone()
    if sold is None:
        return False
    conn.execute("INSERT INTO orders (product_id, quantity) VALUES (1, 1)")
    return True


def main():
    buy = {"check_then_act": check_then_act, "conditional": conditional}[sys.argv[1]]
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        for _ in range(int(os.environ["PGRACE_ITERATIONS"])):
            with conn.transaction():
                buy(conn)


if __name__ == "__main__":
    main()
