-- Calls on an account (issue 17): collector.calls.Call as msgspec JSON, read
-- newest first over a window ("3rd call in 48 h"); kept like events.
CREATE TABLE calls (
    id      INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    at      REAL NOT NULL,
    data    BLOB NOT NULL
);
CREATE INDEX calls_account_at ON calls (account, at);
