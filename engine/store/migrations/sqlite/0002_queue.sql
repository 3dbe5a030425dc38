-- The job queue for several workers and processes: retries with backoff, cancellation,
-- concurrency groups and rate limits held in the database, workers that report themselves.
DROP TRIGGER IF EXISTS deliveries_queue_jobs;
ALTER TABLE jobs ADD COLUMN run_after REAL NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN group_key TEXT;
CREATE TABLE concurrency_groups (
    group_key TEXT PRIMARY KEY,
    running_job INTEGER,
    pending_job INTEGER,
    updated_at REAL NOT NULL
);
CREATE TABLE rate_limits (
    bucket TEXT PRIMARY KEY,
    remaining INTEGER,
    reset_at REAL,
    blocked_until REAL NOT NULL DEFAULT 0,
    strikes INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL
);
CREATE TABLE workers (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    pid INTEGER,
    started_at REAL NOT NULL,
    heartbeat_at REAL NOT NULL,
    jobs_done INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE TABLE health_probe (
    id INTEGER PRIMARY KEY,
    checked_at REAL NOT NULL
);
