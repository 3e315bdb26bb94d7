-- wanbot schema for PostgreSQL, version 5 (as ../005_leases.sql): leases, so several bot
-- processes share this database. Each process is an instance with a lease it renews; a job
-- names the instance working on it (lease_owner, NULL: nobody) and an outbox claim the instance
-- that made it (claimed_by). When an instance's lease expires, the others take its jobs over.
CREATE TABLE instances (
    id              TEXT    PRIMARY KEY,     -- unique per process start
    started_at      DOUBLE PRECISION NOT NULL,
    heartbeat_at    DOUBLE PRECISION NOT NULL,
    expires_at      DOUBLE PRECISION NOT NULL,   -- live while expires_at > now
    shards          TEXT    NOT NULL DEFAULT ''  -- the gateway shards it runs, e.g. '0-3'
);
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
CREATE INDEX jobs_lease ON jobs (lease_owner)
    WHERE state IN ('created', 'submitting', 'running');
