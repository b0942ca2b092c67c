-- Accounts whose balance the database itself keeps non-negative: an overdraft
-- is a constraint violation (23514) that fails the statement, as in the pool
-- scenarios, where what matters is what the ROLLBACK that follows undoes.
CREATE TABLE accounts (
  id      integer PRIMARY KEY,
  balance bigint  NOT NULL CHECK (balance >= 0)
);
