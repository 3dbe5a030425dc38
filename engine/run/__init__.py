"""Running a matched rule's node graph.

`graph` (the scheduler) and `record` (the run record) are pure: they decide and describe.
`executor` awaits the node implementations under retries, timeouts and cancellation;
`concurrency` holds concurrency groups; `recording` is the GitHub seam each node gets. It may
import `lang`, `expr`, `match`, `nodes` and `github.api`; never the store, server or CLI.
"""
