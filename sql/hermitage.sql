-- Hermitage's table (github.com/ept/hermitage): two rows, (1, 10) and (2, 20).
CREATE TABLE test (
  id    integer PRIMARY KEY,
  value integer
);
