-- Technician dispatches (issue 17): collector.dispatches.Dispatch as msgspec
-- JSON; fault = the open fault it is for (one per fault unless forced).
CREATE TABLE dispatches (
    id      TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    fault   TEXT NOT NULL,
    at      REAL NOT NULL,
    data    BLOB NOT NULL
);
CREATE INDEX dispatches_account_at ON dispatches (account, at);
CREATE INDEX dispatches_fault ON dispatches (fault, at);
