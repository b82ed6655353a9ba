-- Technician dispatches (issue 17): collector.dispatches.Dispatch as msgspec
-- JSON; fault = the open fault it is for (one per fault unless forced; the
-- check and the insert run under a transaction advisory lock on the fault).
CREATE TABLE dispatches (
    id      text PRIMARY KEY,
    account text NOT NULL,
    fault   text NOT NULL,
    at      double precision NOT NULL,
    data    bytea NOT NULL
);
CREATE INDEX dispatches_account_at ON dispatches (account, at);
CREATE INDEX dispatches_fault ON dispatches (fault, at);
