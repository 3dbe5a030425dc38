-- GitHub's budget, shared by every process on the database: answers kept for conditional
-- requests (ETag / Last-Modified; a 304 does not count against the rate limit), and one
-- write lane per installation (content-creating requests serial, a minimum gap apart).
CREATE TABLE http_cache (
    cache_key TEXT PRIMARY KEY,
    etag TEXT,
    last_modified TEXT,
    content_type TEXT,
    link TEXT,
    body BYTEA NOT NULL,
    stored_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX http_cache_stored_at ON http_cache (stored_at);
CREATE TABLE write_lanes (
    bucket TEXT PRIMARY KEY,
    next_at DOUBLE PRECISION NOT NULL
);
