-- wanbot schema, version 5: leases, so several bot processes can share one database.
-- Each running process is an instance with a lease it renews (heartbeat); a job names the
-- instance working on it (lease_owner, NULL: nobody) and an outbox claim the instance that made
-- it (claimed_by). When an instance's lease expires its jobs and claims may be taken over. On
-- SQLite one process owns the file (the process lock), so at start-up every other instance is
-- dead; the same columns let a PostgreSQL deployment run several.
CREATE TABLE instances (
    id              TEXT    PRIMARY KEY,     -- unique per process start
    started_at      REAL    NOT NULL,
    heartbeat_at    REAL    NOT NULL,
    expires_at      REAL    NOT NULL,        -- live while expires_at > now
    shards          TEXT    NOT NULL DEFAULT ''  -- the gateway shards it runs, e.g. '0-3'
);
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
CREATE INDEX jobs_lease ON jobs (lease_owner)
    WHERE state IN ('created', 'submitting', 'running');
