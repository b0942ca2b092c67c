-- The bank's schema. As in the story this example retells, there is no
-- CHECK (balance >= 0): the application's funds check is all that keeps a
-- balance from going negative.
CREATE TABLE accounts (
  id      bigint PRIMARY KEY,
  owner   text   NOT NULL,
  balance bigint NOT NULL
);
