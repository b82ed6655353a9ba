-- Headends (CMTS, DSLAM, OLT) the agents poll once for all their lines:
-- probes.model.Headend as msgspec JSON, upserted by PUT /v1/inventory and
-- handed to agents with their assignment (by the agent column, like targets).
CREATE TABLE headends (
    headend TEXT PRIMARY KEY,
    agent   TEXT,
    data    BLOB NOT NULL
) WITHOUT ROWID;
