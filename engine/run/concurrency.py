"""Concurrency groups, as GitHub Actions' `concurrency:`: one running run per group.

A newer run either cancels the running one (`cancel-in-progress: true`) or waits for it. At
most one run waits per group: a newer waiting run supersedes (cancels) an older waiting one.
https://docs.github.com/en/actions/how-tos/write-workflows/choose-when-workflows-run/control-workflow-concurrency
This is per process; the server's job queue keeps the same rule across workers.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass(eq=False)
class Token:
    """One run's place in a group: `cancel` is set when it must stop (or never start)."""

    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class _Group:
    running: Token | None = None
    pending: Token | None = None


class ConcurrencyGroups:
    """The groups of one process."""

    def __init__(self) -> None:
        self._groups: dict[str, _Group] = {}

    async def acquire(self, key: str, cancel_in_progress: bool) -> Token:
        """Wait for this run's turn; the token's `cancel` is set if it was superseded."""
        group = self._groups.setdefault(key, _Group())
        if group.pending is not None:
            group.pending.cancel.set()
        if cancel_in_progress and group.running is not None:
            group.running.cancel.set()
        me = Token()
        group.pending = me
        while group.running is not None and not me.cancel.is_set():
            running = group.running
            finished = asyncio.create_task(running.done.wait())
            superseded = asyncio.create_task(me.cancel.wait())
            await asyncio.wait([finished, superseded], return_when=asyncio.FIRST_COMPLETED)
            finished.cancel()
            superseded.cancel()
        if group.pending is me:
            group.pending = None
        if not me.cancel.is_set():
            group.running = me
        return me

    def release(self, key: str, token: Token) -> None:
        """This run is over; let the waiting one start."""
        group = self._groups.get(key)
        token.done.set()
        if group is None:
            return
        if group.running is token:
            group.running = None
        if group.running is None and group.pending is None:
            del self._groups[key]

    def running(self, key: str) -> bool:
        """Whether a run of the group is running."""
        group = self._groups.get(key)
        return group is not None and group.running is not None
