-- Outage history (issue 17): node outages and plant faults as the engine had
-- them open, collector.outages.Outage as msgspec JSON; until NULL = open.
CREATE TABLE outages (
    id    TEXT PRIMARY KEY,
    since REAL NOT NULL,
    until REAL,
    data  BLOB NOT NULL
);
CREATE INDEX outages_since ON outages (since);
