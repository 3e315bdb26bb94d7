-- wanbot schema for PostgreSQL, version 6 (as ../006_queue_approval.sql): the member's queue
-- and staff approval of expensive jobs. A job may wait, reserved and never sent, as 'queued'
-- (the member's slots are full) or 'awaiting_approval' (staff decide before
-- approval_expires_at); decided_by is who approved or denied it. queue_per_user is a server's
-- own queue length (NULL: the operator's default).
ALTER TABLE guild_settings ADD COLUMN queue_per_user INTEGER;
ALTER TABLE jobs ADD COLUMN approval_expires_at DOUBLE PRECISION;
ALTER TABLE jobs ADD COLUMN decided_by BIGINT;
CREATE INDEX jobs_waiting ON jobs (user_id, guild_id, id)
    WHERE state IN ('queued', 'awaiting_approval');
