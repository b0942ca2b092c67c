-- Accounts for the transfer scenarios. Deliberately no CHECK on balance: the
-- unsafe scenarios must be able to overdraw, so that the invariant, not the
-- schema, is what catches them.
CREATE TABLE accounts (
  id      integer PRIMARY KEY,
  balance bigint  NOT NULL
);

-- Every committed write that left a balance negative leaves a row here: the
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
