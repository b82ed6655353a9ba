-- linewatch store, SQLite. Structs are msgspec JSON; plain columns exist only
-- where an index, a range query or a GROUP BY needs them.

CREATE TABLE targets (
    account TEXT PRIMARY KEY,
    agent   TEXT,
    node    TEXT NOT NULL,
    data    BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX targets_agent ON targets (agent);
CREATE INDEX targets_node ON targets (node);

CREATE TABLE batches (
    batch_id    TEXT PRIMARY KEY,
    agent       TEXT NOT NULL,
    received_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX batches_received_at ON batches (received_at);

CREATE TABLE latest (
    account    TEXT NOT NULL,
    probe      TEXT NOT NULL,
    started_at REAL NOT NULL,
    data       BLOB NOT NULL,
    PRIMARY KEY (account, probe)
);

CREATE TABLE history (
    account TEXT NOT NULL,
    at      REAL NOT NULL,
    raw     INTEGER NOT NULL DEFAULT 1,  -- 0 = an hourly mean made by prune()
    metrics TEXT NOT NULL
);
CREATE INDEX history_account_at ON history (account, at);
CREATE INDEX history_at ON history (at);

CREATE TABLE verdicts (
    account    TEXT PRIMARY KEY,
    node       TEXT NOT NULL,
    verdict    TEXT NOT NULL,
    since      REAL NOT NULL,
    updated_at REAL NOT NULL,
    data       BLOB NOT NULL
);
CREATE INDEX verdicts_node_verdict ON verdicts (node, verdict);

CREATE TABLE verdict_history (
    id      INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    node    TEXT NOT NULL,
    verdict TEXT NOT NULL,
    since   REAL NOT NULL,
    data    BLOB NOT NULL
);
CREATE INDEX verdict_history_account_since ON verdict_history (account, since);

CREATE TABLE node_state (
    node   TEXT PRIMARY KEY,
    outage INTEGER NOT NULL,
    since  REAL
);

CREATE TABLE events (
    id      INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    kind    TEXT NOT NULL,
    at      REAL NOT NULL,
    data    BLOB NOT NULL
);
CREATE INDEX events_account_at ON events (account, at);
CREATE INDEX events_at ON events (at);

CREATE TABLE audit (
    id      INTEGER PRIMARY KEY,
    actor   TEXT NOT NULL,
    account TEXT NOT NULL,
    action  TEXT NOT NULL,
    at      REAL NOT NULL
);
CREATE INDEX audit_account_at ON audit (account, at);

CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    created_at REAL NOT NULL
);
