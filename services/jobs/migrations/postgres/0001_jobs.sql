-- Durable jobs. Times are milliseconds since the Unix epoch (UTC) so both adapters share SQL.
CREATE TABLE jobs (
    id               TEXT PRIMARY KEY,
    job_type         TEXT NOT NULL,
    payload          TEXT NOT NULL,
    owner_id         TEXT,
    tree_id          TEXT,
    idempotency_key  TEXT UNIQUE,
    priority         INTEGER NOT NULL DEFAULT 0,
    run_after        BIGINT NOT NULL,
    state            TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    progress         DOUBLE PRECISION NOT NULL DEFAULT 0,
    progress_message TEXT,
    result           TEXT,
    error            TEXT,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    lease_owner      TEXT,
    lease_token      TEXT,
    lease_expires_at BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    started_at       BIGINT,
    finished_at      BIGINT
);

-- Claim order; partial so it only ever holds the (small) queued set.
CREATE INDEX jobs_claim ON jobs (priority DESC, run_after, id) WHERE state = 'queued';
-- Queue depth by type (exact count over the queued set only).
CREATE INDEX jobs_queued_by_type ON jobs (job_type, run_after) WHERE state = 'queued';
-- Lease recovery scans running jobs only.
CREATE INDEX jobs_running_lease ON jobs (lease_expires_at) WHERE state = 'running';
-- "My jobs", newest first (ids are UUIDv7, so id order is creation order).
CREATE INDEX jobs_owner ON jobs (owner_id, id DESC);
-- The admin's dead-letter list.
CREATE INDEX jobs_failed ON jobs (id DESC) WHERE state = 'failed';

-- Recurring jobs: one row per schedule; next_run_at moves forward exactly once per tick.
CREATE TABLE job_schedules (
    name        TEXT PRIMARY KEY,
    cron        TEXT NOT NULL,
    job_type    TEXT NOT NULL,
    payload     TEXT NOT NULL,
    next_run_at BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
