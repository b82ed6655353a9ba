-- Each agent's last accepted push and the poll cycle it sent with it, written
-- in the batch's own transaction: a restarted collector still knows which
-- agent has gone silent, and every collector reads the whole (small: one row
-- per agent) table on each peer-sync step, so any collector sees pushes the
-- others accepted.
CREATE TABLE agents (
    agent      text PRIMARY KEY,
    last_push  double precision NOT NULL,
    interval_s double precision
);
