-- Outage history (issue 17): node outages and plant faults as the engine had
-- them open, collector.outages.Outage as msgspec JSON; until NULL = open.
-- Keyed by the outage's id (node and start): collectors sharing the database
-- write the same row.
CREATE TABLE outages (
    id    text PRIMARY KEY,
    since double precision NOT NULL,
    until double precision,
    data  bytea NOT NULL
);
CREATE INDEX outages_since ON outages (since);
