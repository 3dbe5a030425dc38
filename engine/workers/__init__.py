"""The workers: the pool that claims jobs under a lease, the job runner and its dispatch
table, repository rules (their versions and their two jobs), the shared rate budget kept in
the store, and recovery of missed deliveries. It imports the rooms below it, never the edge
or the CLI.
"""
