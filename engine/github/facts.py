"""The facts a payload lacks, read from GitHub: the match's `Facts` for the workers and
`hookwise run`. A delivery's changed files are read once however many of its jobs (claimed
together, run at once) wait for them; team answers are kept a few minutes per installation.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from engine.github.api import GitHubAPI
from engine.github.changed_files import fetch_changed_files
from engine.github.teams import MembershipCache, read_memberships
from engine.match.events import Event
from engine.match.matcher import FactUnknown

DELIVERIES_KEPT = 256  # deliveries whose changed files a worker keeps


class DeliveryFiles:
    """Changed files per delivery, read once: concurrent askers wait for the first read."""

    def __init__(self, kept: int = DELIVERIES_KEPT) -> None:
        self.kept = kept
        self._files: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    async def read(
        self, api: GitHubAPI, event: Event, shared: dict[str, Any] | None = None
    ) -> tuple[str, ...]:
        """The event's changed files (FilesUnknown when they cannot be listed in full)."""
        lock = self._locks.setdefault(event.delivery, asyncio.Lock())
        async with lock:
            known = self._files.get(event.delivery)
            if known is None:
                known = await fetch_changed_files(api, event, shared)
                self._files[event.delivery] = known
                if len(self._files) > self.kept:
                    dropped, _ = self._files.popitem(last=False)
                    self._locks.pop(dropped, None)
            return known


class GitHubFacts:
    """engine.match.matcher.Facts read from GitHub as an installation."""

    def __init__(
        self,
        api: GitHubAPI | None,
        installation_id: int | None,
        *,
        files: DeliveryFiles | None = None,
        memberships: MembershipCache | None = None,
        shared: dict[str, Any] | None = None,
    ) -> None:
        self.api = api
        self.installation_id = installation_id
        self.files = files or DeliveryFiles(kept=1)
        self.cache = memberships
        self.shared = shared  # a run's shared dict: its pull request files node reuses them
        self.reading = "the facts"  # what the last read was for: a failure's message says it

    def _api(self, what: str) -> tuple[GitHubAPI, int]:
        self.reading = what
        if self.api is None or self.installation_id is None:
            raise FactUnknown(f"{what} can only be read with App credentials")
        return self.api, self.installation_id

    async def changed_files(self, event: Event) -> tuple[str, ...]:
        """The changed files, from the pull request or the comparison."""
        api, _ = self._api("the changed files")
        return await self.files.read(api, event, self.shared)

    async def memberships(
        self, event: Event, asks: tuple[tuple[str, str], ...]
    ) -> Mapping[tuple[str, str], bool | str]:
        """Each (team, login) asked, from the team membership API."""
        api, installation = self._api("team membership")
        return await read_memberships(api, installation, asks, self.cache)
