-- Headends (CMTS, DSLAM, OLT) the agents poll once for all their lines:
-- probes.model.Headend as msgspec JSON, upserted by PUT /v1/inventory and
-- handed to agents with their assignment (by the agent column, like targets).
-- Read from the table on every assignment request, so no change feed.
CREATE TABLE headends (
    headend text PRIMARY KEY,
    agent   text,
    data    bytea NOT NULL
);
