"""What the server keeps (the records the store hands back), the statuses, and the errors.

Every backend stores the same tables (docs/design.md §6) and hands back these frozen records, so the
server, the workers and the command line never see a database row, nor a backend's own
exception: every database failure arrives as a StoreError.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from engine.errors import HookwiseError

# Job states. A job is one (delivery, rule, generation).
QUEUED = "queued"
RUNNING = "running"
DONE = "done"  # the run finished (success or cancelled)
FAILED = "failed"  # the run failed, or the job gave up after its retries
NOT_MATCHED = "not_matched"  # a rule that waited for the changed files did not match them
UNDECIDED = "undecided"  # a rule whose filters need facts that cannot be read

# A delivery's status, derived from its latest generation of jobs (one SQL expression, so the
# list and one delivery always agree): no_match, queued, running, failed, undecided, done.


class StoreError(HookwiseError):
    """The database refused or failed an operation (locked, read-only, full, gone).
    `retryable`: the connection was lost mid-way; the same write may pass on a fresh one."""

    retryable = False


class ConnectionLost(StoreError):
    """The database connection dropped (a restart, a network cut): nothing was committed."""

    retryable = True


def without_nul(args: Sequence[Any]) -> Sequence[Any]:
    """Statement arguments with NUL characters in text replaced by U+FFFD, as both backends
    store them (PostgreSQL text cannot hold NUL; SQLite would, so it is made to match)."""
    if not any(isinstance(a, str) and "\x00" in a for a in args):
        return args
    return [a.replace("\x00", "\ufffd") if isinstance(a, str) else a for a in args]


class StoreMissing(StoreError):
    """The database named by the URL does not exist (commands that only read never create it)."""


class JobKind(StrEnum):
    """What a job does (its `kind` column); the workers dispatch on it."""

    RUN = "run"  # run a rule that matched
    FACTS = "facts"  # read the facts a rule waits for, decide it, and run it if it matches
    REPOSITORY = "repository"  # match the repository's own rules, queue those that match
    RULES_CHECK = "rules-check"  # the `hookwise / rules` check run on a pull request

    @classmethod
    def of(cls, column: str) -> JobKind:
        """The kind a stored column names ("files": what earlier releases called "facts")."""
        return cls.FACTS if column == "files" else cls(column)


@dataclass(frozen=True)
class Job:
    """A (delivery, rule) to run, claimed by one worker under a lease."""

    id: int
    delivery_id: str
    rule: str
    generation: int
    kind: JobKind
    attempts: int
    cancel_requested: bool = False
    put_back: bool = False  # an earlier turn put it back (a retry, a rate limit, a busy group)


@dataclass(frozen=True)
class Finish:
    """How one claimed job ends: its state, error, run record and node records (record,
    idempotency key); `spawn` queues more jobs (rule, kind) for its delivery in its generation,
    `trace` is merged into the delivery's match trace."""

    job: Job
    state: str
    error: str | None = None
    run: dict[str, Any] | None = None
    nodes: Sequence[tuple[dict[str, Any], str]] = ()
    spawn: Sequence[tuple[str, str]] = ()
    trace: dict[str, Any] | None = None


@dataclass(frozen=True)
class StoredDelivery:
    """A recorded delivery."""

    delivery_id: str
    event: str
    action: str | None
    installation_id: int | None
    repository: str | None
    payload: dict[str, Any] | None
    headers: dict[str, str]
    received_at: float
    status: str
    match_trace: dict[str, Any]
    raw_payload: str | None = field(default=None, repr=False)  # the JSON text as received


@dataclass(frozen=True)
class InstallationChange:
    """What an installation event says about the installations table."""

    installation_id: int
    action: str | None
    account: str | None = None
    account_type: str | None = None
    repositories: tuple[str, ...] | None = None  # the full list (installation events)
    added: tuple[str, ...] = ()  # installation_repositories events
    removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class NewDelivery:
    """A delivery to record, with the jobs (rule, kind) its match queued, and the change to
    the installations table it carries (applied in the same transaction)."""

    delivery: StoredDelivery
    jobs: tuple[tuple[str, str], ...] = ()
    installation: InstallationChange | None = None


@dataclass(frozen=True)
class DeliveryFilter:
    """Which deliveries to list: all conditions must hold; None means any."""

    repository: str | None = None
    event: str | None = None
    status: str | None = None
    since: float | None = None
    until: float | None = None
    before_id: int | None = None  # page: only rows older than this row id


@dataclass(frozen=True)
class QueueStats:
    """The queue as /health and /metrics show it."""

    queued: int
    running: int
    oldest_queued_age: float | None  # seconds


@dataclass(frozen=True)
class Migration:
    """One numbered schema step."""

    version: int
    name: str
    sql: str
