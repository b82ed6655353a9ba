-- Change feed for several collectors on one database (collector/sync.py).
-- Each changed targets/latest row carries the id of the transaction that wrote
-- it; a collector reads rows written at or after the oldest transaction that
-- was still running at its previous read (pg_snapshot_xmin), so a row committed
-- late is never skipped. `origin` names the collector process that ingested a
-- latest row: a collector skips its own rows, which it has judged already.
ALTER TABLE targets ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX targets_xid ON targets (xid);
ALTER TABLE latest ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
ALTER TABLE latest ADD COLUMN origin text;
CREATE INDEX latest_xid ON latest (xid);
