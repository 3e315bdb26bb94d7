-- wanbot schema, version 1. Money is stored as integer micro-dollars (1 USD = 1,000,000) so that
-- SQL sums are exact; the application converts to and from Decimal at the store's boundary.
-- Times are UNIX seconds (REAL, UTC).

CREATE TABLE jobs (
    -- AUTOINCREMENT: a job id is never reused, so an old button can never act on a new job.
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id                 INTEGER NOT NULL,
    guild_id                INTEGER,             -- NULL for terminal and test jobs
    channel_id              INTEGER,
    status_message_id       INTEGER,
    parent_job_id           INTEGER REFERENCES jobs(id),
    model_id                TEXT    NOT NULL,
    provider                TEXT    NOT NULL,
    request_json            TEXT    NOT NULL,    -- the request, media replaced by references
    price_tier              TEXT    NOT NULL,
    task_id                 TEXT,
    state                   TEXT    NOT NULL,
    submit_attempts         INTEGER NOT NULL DEFAULT 0,
    poll_count              INTEGER NOT NULL DEFAULT 0,
    poll_errors             INTEGER NOT NULL DEFAULT 0,
    delivery_attempts       INTEGER NOT NULL DEFAULT 0,
    created_at              REAL    NOT NULL,
    submitted_at            REAL,
    finished_at             REAL,                -- when the bot saw the task end
    completed_at            REAL,                -- when the provider most likely finished it
    completion_exact        INTEGER NOT NULL DEFAULT 0,  -- 1: seen between two close looks
    delivered_at            REAL,
    deadline_at             REAL    NOT NULL,
    next_attempt_at         REAL,                -- next submit try, poll or delivery try
    progress                REAL,
    result_urls             TEXT,                -- JSON list
    delivered_message_ids   TEXT,                -- JSON list
    error_code              TEXT,
    error_message           TEXT,                -- for the member
    error_detail            TEXT,                -- for the operator (the provider's answer)
    estimated_micros        INTEGER NOT NULL,
    billed_micros           INTEGER,
    units                   TEXT    NOT NULL,    -- decimal text: seconds of video or images
    unit                    TEXT    NOT NULL     -- 'second' | 'image'
);

CREATE INDEX jobs_due ON jobs (next_attempt_at)
    WHERE state IN ('created', 'submitting', 'running', 'succeeded', 'delivering');
CREATE INDEX jobs_user_created ON jobs (user_id, created_at);
CREATE INDEX jobs_guild_created ON jobs (guild_id, created_at);
CREATE INDEX jobs_history ON jobs (model_id, price_tier, units, finished_at)
    WHERE state IN ('succeeded', 'delivering', 'delivered');

-- Inputs waiting for submission, kept on disk under their SHA-256 until the provider accepts.
CREATE TABLE job_inputs (
    job_id      INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    field       TEXT    NOT NULL,
    position    INTEGER NOT NULL,
    sha256      TEXT    NOT NULL,
    mime        TEXT    NOT NULL,
    PRIMARY KEY (job_id, field, position)
);
CREATE INDEX job_inputs_sha ON job_inputs (sha256);

-- Notices and results to post, exactly once each (transactional outbox).
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    job_id          INTEGER NOT NULL REFERENCES jobs(id),
    kind            TEXT    NOT NULL,            -- 'result' | 'notice'
    created_at      REAL    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL    NOT NULL,
    claimed_at      REAL,
    delivered_at    REAL,
    message_ids     TEXT,                        -- JSON list, once delivered
    last_error      TEXT,
    UNIQUE (job_id, kind)
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE delivered_at IS NULL;

CREATE TABLE guild_settings (
    guild_id                    INTEGER PRIMARY KEY,
    user_daily_budget_micros    INTEGER,        -- NULL: no cap; 0: generation off
    guild_monthly_budget_micros INTEGER,
    max_concurrent_per_user     INTEGER,
    cooldown_seconds            REAL,
    extra_json                  TEXT NOT NULL DEFAULT '{}',
    updated_at                  REAL NOT NULL
);

CREATE TABLE user_settings (
    guild_id                INTEGER NOT NULL,    -- 0 for jobs outside a server
    user_id                 INTEGER NOT NULL,
    daily_budget_micros     INTEGER,             -- overrides the server's per-user cap
    extra_json              TEXT NOT NULL DEFAULT '{}',
    updated_at              REAL NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

-- Small facts the bot keeps about itself (e.g. the hash of the last synced command set).
CREATE TABLE meta (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL
);

-- Append-only: every reservation, release and settlement of money, never edited.
CREATE TABLE ledger (
    id              INTEGER PRIMARY KEY,
    job_id          INTEGER NOT NULL REFERENCES jobs(id),
    user_id         INTEGER NOT NULL,
    guild_id        INTEGER,
    model_id        TEXT    NOT NULL,
    entry           TEXT    NOT NULL,            -- 'reserve' | 'release' | 'settle'
    amount_micros   INTEGER NOT NULL,            -- signed
    billed          INTEGER NOT NULL DEFAULT 0,  -- 1 when the provider reported the amount
    charged_at      REAL    NOT NULL,            -- the job's creation time: the period it counts in
    created_at      REAL    NOT NULL,
    note            TEXT
);
CREATE INDEX ledger_user ON ledger (user_id, charged_at);
CREATE INDEX ledger_guild ON ledger (guild_id, charged_at);
CREATE INDEX ledger_job ON ledger (job_id);

CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only');
END;

CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only');
END;
