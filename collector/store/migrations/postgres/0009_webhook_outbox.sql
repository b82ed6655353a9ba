-- Webhook outbox (issue 17): one row per event and receiver until a 2xx;
-- id = the delivery id (derived from the event, so several collectors offering
-- it keep one row, also after delivery: delivered_at, kept a week); claimed
-- with FOR UPDATE SKIP LOCKED and a lease.
CREATE TABLE webhook_outbox (
    id            text PRIMARY KEY,
    hook          text NOT NULL,
    event         text NOT NULL,
    body          bytea NOT NULL,
    created_at    double precision NOT NULL,
    attempts      integer NOT NULL DEFAULT 0,
    next_at       double precision NOT NULL,
    claimed_by    text,
    claimed_until double precision,
    delivered_at  double precision
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_at) WHERE delivered_at IS NULL;
CREATE INDEX webhook_outbox_delivered ON webhook_outbox (delivered_at);
