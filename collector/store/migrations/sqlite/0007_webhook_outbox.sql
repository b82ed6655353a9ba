-- Webhook outbox (issue 17): one row per event and receiver until a 2xx;
-- id = the delivery id (derived from the event, so offering it twice keeps one
-- row); claimed_by/claimed_until: a sender's lease; delivered_at: sent (kept
-- a week so an event offered again after delivery is still known).
CREATE TABLE webhook_outbox (
    id            TEXT PRIMARY KEY,
    hook          TEXT NOT NULL,
    event         TEXT NOT NULL,
    body          BLOB NOT NULL,
    created_at    REAL NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       REAL NOT NULL,
    claimed_by    TEXT,
    claimed_until REAL,
    delivered_at  REAL
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_at) WHERE delivered_at IS NULL;
CREATE INDEX webhook_outbox_delivered ON webhook_outbox (delivered_at);
