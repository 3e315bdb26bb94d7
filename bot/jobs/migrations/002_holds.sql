-- wanbot schema, version 2: estimates held for tasks whose outcome is unknown.
-- A job that ends as submission_unknown, or as timed_out after the provider accepted it, keeps
-- its estimate reserved ("held"): the provider may have billed it. Staff release a hold with
-- /wanbot release (a 'release' ledger entry); this records when, and by whom.
ALTER TABLE jobs ADD COLUMN hold_released_at REAL;
ALTER TABLE jobs ADD COLUMN hold_released_by INTEGER;
