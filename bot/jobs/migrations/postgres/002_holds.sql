-- wanbot schema for PostgreSQL, version 2 (as ../002_holds.sql): estimates held for tasks
-- whose outcome is unknown, and when (and by whom) staff released one.
ALTER TABLE jobs ADD COLUMN hold_released_at DOUBLE PRECISION;
ALTER TABLE jobs ADD COLUMN hold_released_by BIGINT;
