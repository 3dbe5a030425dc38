-- Repository rules (.github/hookwise) cached by the commit they were read at, shared by every
-- worker: rule_versions keeps the files of each version read; rule_heads says which version
-- is current for a repository and who is reading a new one (so a fleet reads it once).
CREATE TABLE rule_versions (
    repository TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    files TEXT NOT NULL,
    fetched_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (repository, commit_sha)
);
CREATE TABLE rule_heads (
    repository TEXT PRIMARY KEY,
    commit_sha TEXT,
    checked_at DOUBLE PRECISION NOT NULL,
    loading_until DOUBLE PRECISION NOT NULL DEFAULT 0,
    loader TEXT
);
