-- The schema of hookwise 0.1 (engine/store.py at 6d695d2) and rows it wrote: the
-- upgrade test starts from this database.
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

-- rows as release 0.1 wrote them
INSERT INTO installations (id, account, account_type, repositories, created_at, updated_at)
VALUES (5, 'octo-org', 'Organization', '["octo-org/a"]', 1.0, 1.0);
INSERT INTO deliveries (delivery_id, event, action, installation_id, repository, payload, headers,
    received_at, status, match_trace, job_spec)
VALUES ('d-0.1', 'issues', 'opened', 5, 'octo-org/a', '{"action": "opened"}', '{}', 10.0, 'queued',
    '{"matched": ["r"]}', '[["r", "run"]]');
UPDATE jobs SET state = 'done', attempts = 1, updated_at = 11.0 WHERE delivery_id = 'd-0.1';
INSERT INTO runs (job_id, delivery_id, rule, generation, status, started_at, finished_at, record)
VALUES (1, 'd-0.1', 'r', 0, 'success', 10.5, 11.0, '{"rule": "r", "status": "success", "nodes": []}');
INSERT INTO node_runs (job_id, node_id, idempotency_key, status, attempts, outputs)
VALUES (1, 'log', 'd-0.1:r:log', 'success', 1, '{"message": "x"}');
