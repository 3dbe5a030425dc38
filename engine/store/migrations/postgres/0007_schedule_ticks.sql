-- Rules on a clock: one row per (rule, target, tick) decided, whichever process decided it.
-- The primary key is the claim: every replica and worker tries to insert the tick it sees come
-- due, and only the insert that lands queues the run (outcome 'run', with the delivery the
-- delivery log shows); ticks that passed while nothing ran are rows with outcome 'missed'.
CREATE TABLE schedule_ticks (
    rule TEXT NOT NULL,
    target TEXT NOT NULL,
    tick DOUBLE PRECISION NOT NULL,
    outcome TEXT NOT NULL,
    delivery_id TEXT,
    decided_at DOUBLE PRECISION NOT NULL,
    late DOUBLE PRECISION,
    PRIMARY KEY (rule, target, tick)
);
CREATE INDEX schedule_ticks_decided ON schedule_ticks (decided_at);
