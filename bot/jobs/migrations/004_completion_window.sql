-- wanbot schema, version 4: the window in which a task finished, and when it started.
-- The poll planner learns durations from what polling saw: a task was unfinished at the last
-- look before its result (completion_after) and done by finished_at. started_at is when the
-- provider started it (MuleRouter's updated_at once processing), else the last look that saw it
-- pending; NULL when neither is known. Both are epoch seconds, set once when the job succeeds.
ALTER TABLE jobs ADD COLUMN completion_after REAL;
ALTER TABLE jobs ADD COLUMN started_at REAL;
