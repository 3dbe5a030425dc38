-- hookwise recover: the deliveries it asked GitHub to send again, so that each is asked for
-- at most once per window, by one process of a fleet.
CREATE TABLE redeliveries (
    delivery_id TEXT PRIMARY KEY,
    hook_delivery_id BIGINT NOT NULL,
    requested_at DOUBLE PRECISION NOT NULL
);
