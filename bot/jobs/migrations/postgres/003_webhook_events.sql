-- wanbot schema for PostgreSQL, version 3 (as ../003_webhook_events.sql): pushed events
-- (webhooks) already taken, for de-duplication; rows older than any redelivery are pruned.
CREATE TABLE webhook_events (
    source      TEXT    NOT NULL,    -- who sent it: 'mulerouter'
    event_id    TEXT    NOT NULL,    -- the envelope's id
    seen_at     DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (source, event_id)
);
CREATE INDEX webhook_events_seen ON webhook_events (seen_at);
