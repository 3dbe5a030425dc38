"""The database: deliveries, the job queue with leases, runs, node runs, installations,
integrations. `base` holds the records and the Store interface; `sqlite` the embedded backend.

It may import `engine.errors` only: the store knows rows, not rules or GitHub.
"""
