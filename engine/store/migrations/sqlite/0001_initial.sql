-- The schema of release 0.1 (it had no migrations table); IF NOT EXISTS lets a database
-- made by that release pass through this step unchanged.
CREATE TABLE IF NOT EXISTS installations (
    id INTEGER PRIMARY KEY,
    account TEXT,
    account_type TEXT,
    repositories TEXT NOT NULL DEFAULT '[]',
    suspended_at REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    deleted_at REAL
);
CREATE TABLE IF NOT EXISTS integrations (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    integration_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    credential_data TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    deleted_at REAL
);
CREATE INDEX IF NOT EXISTS integrations_user ON integrations (user_id, deleted_at);
CREATE TABLE IF NOT EXISTS install_states (
    nonce TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    used_at REAL
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    delivery_id TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL,
    action TEXT,
    installation_id INTEGER,
    repository TEXT,
    payload TEXT,
    headers TEXT NOT NULL DEFAULT '{}',
    received_at REAL NOT NULL,
    status TEXT NOT NULL,
    match_trace TEXT NOT NULL DEFAULT '{}',
    job_spec TEXT
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    delivery_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_until REAL,
    worker TEXT,
    error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
-- (delivery, rule, generation) is unique by construction: a delivery id is inserted once, and
-- a replay takes the next generation; runs enforces it with its own UNIQUE constraint
CREATE INDEX IF NOT EXISTS jobs_delivery ON jobs (delivery_id);
CREATE INDEX IF NOT EXISTS jobs_state_order ON jobs (state, id);
-- a delivery and its jobs are one INSERT statement (so one atomic commit, no BEGIN/COMMIT
-- round trips on the webhook's hot path): the trigger queues the jobs listed in job_spec
CREATE TRIGGER IF NOT EXISTS deliveries_queue_jobs AFTER INSERT ON deliveries
WHEN NEW.job_spec IS NOT NULL
BEGIN
    INSERT INTO jobs (delivery_id, rule, generation, kind, state, created_at, updated_at)
    SELECT NEW.delivery_id, json_extract(value, '$[0]'), 0, json_extract(value, '$[1]'),
           'queued', NEW.received_at, NEW.received_at
    FROM json_each(NEW.job_spec);
END;
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL,
    delivery_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    started_at REAL,
    finished_at REAL,
    record TEXT NOT NULL,
    UNIQUE (delivery_id, rule, generation)
);
CREATE TABLE IF NOT EXISTS node_runs (
    job_id INTEGER NOT NULL,
    node_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    started_at REAL,
    finished_at REAL,
    outputs TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    PRIMARY KEY (job_id, node_id)
);
