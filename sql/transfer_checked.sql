-- Accounts whose balance the database itself keeps non-negative: an overdraft
-- is a constraint violation (23514) that fails the statement, as in the pool
-- scenarios, where what matters is what the ROLLBACK that follows undoes.
CREATE TABLE accounts (
  id      integer PRIMARY KEY,
  balance bigint  NOT NULL CHECK (balance >= 0)
);

-- The same overdraft history as in transfer.sql (here the CHECK keeps it
-- empty), so both schemas answer the same invariants. Every committed write
-- that left a balance negative leaves a row here: the
-- trigger's insert commits or rolls back with the write. So "no negative
-- balance" is checked over the whole history, not only the final state, and
-- an overdraft that later credits repaired is still seen.
CREATE TABLE overdrafts (
  account integer NOT NULL,
  balance bigint  NOT NULL
);

CREATE FUNCTION record_overdraft() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO overdrafts VALUES (NEW.id, NEW.balance);
  RETURN NEW;
END
$$;

CREATE TRIGGER record_overdraft AFTER INSERT OR UPDATE ON accounts
  FOR EACH ROW WHEN (NEW.balance < 0) EXECUTE FUNCTION record_overdraft();
