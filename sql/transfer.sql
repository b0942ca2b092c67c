-- Accounts for the transfer scenarios. Deliberately no CHECK on balance: the
-- unsafe scenarios must be able to overdraw, so that the invariant, not the
-- schema, is what catches them.
CREATE TABLE accounts (
  id      integer PRIMARY KEY,
  balance bigint  NOT NULL
);
