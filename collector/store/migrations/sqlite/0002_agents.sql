-- Each agent's last accepted push and the poll cycle it sent with it, written
-- in the batch's own transaction: a restarted collector still knows which
-- agent has gone silent. One row per agent (names bounded by configuration).
CREATE TABLE agents (
    agent      TEXT PRIMARY KEY,
    last_push  REAL NOT NULL,
    interval_s REAL
) WITHOUT ROWID;
