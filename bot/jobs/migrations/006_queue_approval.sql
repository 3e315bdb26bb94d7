-- wanbot schema, version 6: the member's queue and staff approval of expensive jobs.
-- A job may now wait, reserved and never sent, in two states: 'queued' (the member's job slots
-- are full; it starts by itself when one frees, oldest first) and 'awaiting_approval' (its
-- estimate is above the server's threshold; staff approve or deny it before
-- approval_expires_at, else it lapses). decided_by is the staff member who approved or denied.
-- queue_per_user is a server's own queue length (NULL: the operator's default).
ALTER TABLE guild_settings ADD COLUMN queue_per_user INTEGER;
ALTER TABLE jobs ADD COLUMN approval_expires_at REAL;
ALTER TABLE jobs ADD COLUMN decided_by INTEGER;
CREATE INDEX jobs_waiting ON jobs (user_id, guild_id, id)
    WHERE state IN ('queued', 'awaiting_approval');
