CREATE TABLE wallets (id int PRIMARY KEY, balance int NOT NULL);
CREATE TABLE charges (order_id int NOT NULL, amount int NOT NULL);
