-- linewatch store, PostgreSQL. Same tables as the SQLite set; structs are
-- msgspec JSON in bytea (decoded by the collector, never by SQL) except
-- history metrics, which prune() averages in SQL and so are jsonb.

CREATE TABLE targets (
    account text PRIMARY KEY,
    agent   text,
    node    text NOT NULL,
    data    bytea NOT NULL
);
CREATE INDEX targets_agent ON targets (agent);
CREATE INDEX targets_node ON targets (node);

CREATE TABLE batches (
    batch_id    text PRIMARY KEY,
    agent       text NOT NULL,
    received_at double precision NOT NULL
);
CREATE INDEX batches_received_at ON batches (received_at);

CREATE TABLE latest (
    account    text NOT NULL,
    probe      text NOT NULL,
    started_at double precision NOT NULL,
    data       bytea NOT NULL,
    PRIMARY KEY (account, probe)
);

CREATE TABLE history (
    account text NOT NULL,
    at      double precision NOT NULL,
    raw     boolean NOT NULL DEFAULT true,  -- false = an hourly mean made by prune()
    metrics jsonb NOT NULL
);
CREATE INDEX history_account_at ON history (account, at);
CREATE INDEX history_at ON history (at);

CREATE TABLE verdicts (
    account    text PRIMARY KEY,
    node       text NOT NULL,
    verdict    text NOT NULL,
    since      double precision NOT NULL,
    updated_at double precision NOT NULL,
    data       bytea NOT NULL
);
CREATE INDEX verdicts_node_verdict ON verdicts (node, verdict);

CREATE TABLE verdict_history (
    id      bigserial PRIMARY KEY,
    account text NOT NULL,
    node    text NOT NULL,
    verdict text NOT NULL,
    since   double precision NOT NULL,
    data    bytea NOT NULL
);
CREATE INDEX verdict_history_account_since ON verdict_history (account, since);

CREATE TABLE node_state (
    node   text PRIMARY KEY,
    outage boolean NOT NULL,
    since  double precision
);

CREATE TABLE events (
    id      bigserial PRIMARY KEY,
    account text NOT NULL,
    kind    text NOT NULL,
    at      double precision NOT NULL,
    data    bytea NOT NULL
);
CREATE INDEX events_account_at ON events (account, at);
CREATE INDEX events_at ON events (at);

CREATE TABLE audit (
    id      bigserial PRIMARY KEY,
    actor   text NOT NULL,
    account text NOT NULL,
    action  text NOT NULL,
    at      double precision NOT NULL
);
CREATE INDEX audit_account_at ON audit (account, at);

CREATE TABLE tokens (
    token_hash text PRIMARY KEY,
    name       text NOT NULL,
    role       text NOT NULL,
    created_at double precision NOT NULL
);
