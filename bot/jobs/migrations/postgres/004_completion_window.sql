-- wanbot schema for PostgreSQL, version 4 (as ../004_completion_window.sql): the window in
-- which a task finished (completion_after) and when the provider started it (started_at).
ALTER TABLE jobs ADD COLUMN completion_after DOUBLE PRECISION;
ALTER TABLE jobs ADD COLUMN started_at DOUBLE PRECISION;
