-- Added to transfer.sql for the pool scenarios: the database itself keeps
-- balances non-negative, so an overdraft is a constraint violation (23514)
-- that fails the statement; what matters there is what the ROLLBACK that
-- follows undoes.
ALTER TABLE accounts ADD CONSTRAINT balance_not_negative CHECK (balance >= 0);
