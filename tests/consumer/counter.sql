CREATE TABLE counter (n bigint NOT NULL);
