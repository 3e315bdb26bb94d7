-- wanbot schema, version 3: pushed events (webhooks) already taken, for de-duplication.
-- A provider may deliver one event more than once (retries, duplicates); its id is kept here
-- when the engine takes the event, so a second delivery changes nothing. Rows older than any
-- redelivery are pruned (seen_at).
CREATE TABLE webhook_events (
    source      TEXT    NOT NULL,    -- who sent it: 'mulerouter'
    event_id    TEXT    NOT NULL,    -- the envelope's id
    seen_at     REAL    NOT NULL,
    PRIMARY KEY (source, event_id)
) WITHOUT ROWID;
CREATE INDEX webhook_events_seen ON webhook_events (seen_at);
