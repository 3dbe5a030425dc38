"""Repository rules in the server (docs/design.md §2.4): reading each version once for the fleet,
matching a delivery against its repository's rules and the organisation defaults, and
queueing the rules it matches as jobs of their own.

A delivery with a repository gets one job `@repository` at ingest. Its worker finds the
current version of `<repo>/.github/hookwise/` and of `<owner>/.github/.github/hookwise/`
(the database says which commit is current; a push to the default branch that changes the
folder, or HOOKWISE_REPO_RULES_TTL passing, makes the worker look at the branch's head again), reads a new
version under a lease in the database (so two workers meeting it at once ask GitHub once),
checks it (a broken file is skipped with its reason), matches the delivery, and queues one
job per matched rule, named `<source>#<rule>`, which any worker can resolve from the
database without asking GitHub again.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from engine.declarations.registry import Registry
from engine.github.api import GitHubAPI
from engine.github.repo_files import RuleFiles, branch_head, default_branch, read_rule_files
from engine.lang.model import Rule, RuleSource
from engine.lang.repository import DEFAULTS_REPOSITORY, RepositoryRules, Skipped, check_repository
from engine.lang.repository_limits import RULES_DIR, RepositoryLimits
from engine.match.events import Event
from engine.observe import logs
from engine.settings import Settings
from engine.store.interface import Store

log = logs.get("hookwise.worker")
REPOSITORY_JOB = "@repository"  # rule names cannot start with @, so these never collide
RULES_CHECK_JOB = "@rules-check"
LOAD_LEASE = 60.0  # seconds a worker may take to read a new version
COMPILED_VERSIONS = 256  # checked versions kept in memory per worker


class Busy(Exception):
    """Another worker is reading this repository's rules right now: try again shortly."""


def limits_of(settings: Settings) -> RepositoryLimits:
    """The repository limits the settings name."""
    return RepositoryLimits(
        files=settings.repo_rules_max_files, file_bytes=settings.repo_rules_max_bytes
    )


def rule_job_name(rule: Rule) -> str:
    """The job name of a matched repository rule: its source's key and its name."""
    return f"{rule.source.key}#{rule.name}"


def parse_rule_job_name(name: str) -> tuple[str, str, str, str] | None:
    """(kind, repository, commit, rule name) of a repository rule's job name, else None."""
    source, sep, rule = name.rpartition("#")
    kind, colon, rest = source.partition(":")
    repository, at, commit = rest.rpartition("@")
    if not (sep and colon and at) or kind not in ("repository", "defaults"):
        return None
    return kind, repository, commit, rule


def encode_files(files: RuleFiles) -> dict[str, Any]:
    """A version's files as the database keeps them."""
    return {
        "files": {
            path: {"sha": sha, "content": base64.b64encode(raw).decode()}
            for path, (sha, raw) in files.files.items()
        },
        "too_many": files.too_many,
        "too_large": files.too_large,
    }


def touches_rules(event: Event, default: str | None) -> bool:
    """A push to the default branch that changes `.github/hookwise/` (or may: a cut push)."""
    if event.name != "push" or event.ref_kind != "branch" or event.ref_name != default:
        return False
    files = event.changed_files
    return files is None or any(p.startswith(RULES_DIR + "/") for p in files)


Db = Callable[..., Awaitable[Any]]


class RuleVersions:
    """The worker's view of repository rules: current versions from the database, checked
    versions kept in memory, new versions read from GitHub once."""

    def __init__(
        self, store: Store, settings: Settings, registry: Registry, db: Db, worker: str
    ) -> None:
        self.store = store
        self.settings = settings
        self.registry = registry
        self.db = db
        self.worker = worker
        self.limits = limits_of(settings)
        self._checked: OrderedDict[str, RepositoryRules] = OrderedDict()
        # one read at a time per repository in this worker; the database lease covers the fleet
        self._reading: dict[str, asyncio.Lock] = {}

    async def current(
        self,
        github: GitHubAPI,
        repository: str,
        kind: str,
        *,
        branch: str | None = None,
        refresh_to: str | None = None,
    ) -> RepositoryRules | None:
        """The current version of a repository's rules (None: it has none, or the App cannot
        see it); reads a new one when pushed to (`refresh_to`) or past the TTL. Raises Busy."""
        lock = self._reading.setdefault(repository.lower(), asyncio.Lock())
        async with lock:
            commit = await self._current_commit(github, repository, branch, refresh_to)
        if commit is None:
            return None
        return await self.version(repository, commit, kind)

    async def _current_commit(
        self, github: GitHubAPI, repository: str, branch: str | None, refresh_to: str | None
    ) -> str | None:
        head = await self.db(self.store.rule_head, repository)
        if self._fresh(head, refresh_to):
            return str(head["commit_sha"]) if head["commit_sha"] else None
        if not await self.db(self.store.claim_rule_load, repository, self.worker, LOAD_LEASE):
            raise Busy(repository)
        # another worker may have finished reading between our look and our lease
        head = await self.db(self.store.rule_head, repository)
        if self._fresh(head, refresh_to):
            await self.db(self.store.release_rule_load, repository, self.worker)
            return str(head["commit_sha"]) if head["commit_sha"] else None
        return await self._load(github, repository, head, branch)

    def _fresh(self, head: Any, refresh_to: str | None) -> bool:
        """Whether the stored head can be used as it is."""
        if head is None or time.time() - head["checked_at"] >= self.settings.repo_rules_ttl:
            return False
        return refresh_to is None or head["commit_sha"] == refresh_to

    async def _load(
        self,
        github: GitHubAPI,
        repository: str,
        head: Any,
        branch: str | None,
    ) -> str | None:
        """Read the new version (the caller holds the lease) and make it current. A push only
        says that the rules may have changed: the version is the branch's head as GitHub has
        it now, never the push's `after`, so a push delivered late cannot roll rules back."""
        try:
            branch = branch or await default_branch(github, repository)
            commit = await branch_head(github, repository, branch) if branch else None
            if commit is None:
                await self.db(self.store.save_rule_head, repository, None)
                return None
            stored = await self.db(self.store.rule_version, repository, commit)
            if stored is not None:
                await self.db(self.store.save_rule_head, repository, commit)
                return commit
            known = await self._known_blobs(repository, head)
            files = await read_rule_files(github, repository, commit, self.limits, known)
            await self.db(self.store.save_rule_head, repository, commit, encode_files(files))
            log.info(
                "repository rules read",
                repository=repository,
                commit=commit,
                files=len(files.files),
            )
            return commit
        except BaseException:
            await self.db(self.store.release_rule_load, repository, self.worker)
            raise

    async def _known_blobs(self, repository: str, head: Any) -> dict[str, bytes]:
        """The blobs of the previous version: files that did not change are not read again."""
        if head is None or not head["commit_sha"]:
            return {}
        previous = await self.db(self.store.rule_version, repository, head["commit_sha"])
        if previous is None:
            return {}
        return {
            f["sha"]: base64.b64decode(f["content"]) for f in previous.get("files", {}).values()
        }

    async def version(self, repository: str, commit: str, kind: str) -> RepositoryRules | None:
        """One version, checked (kept in memory), from the database."""
        key = f"{kind}:{repository.lower()}@{commit}"
        found = self._checked.get(key)
        if found is not None:
            self._checked.move_to_end(key)
            return found
        stored = await self.db(self.store.rule_version, repository, commit)
        if stored is None:
            return None
        files = {p: base64.b64decode(f["content"]) for p, f in stored.get("files", {}).items()}
        source = RuleSource(kind, repository, commit)
        checked = check_repository(
            files, source, self.registry, self.limits, too_many=stored.get("too_many", [])
        )
        for path, size in sorted(stored.get("too_large", {}).items()):
            checked.skipped.append(_too_large(path, size, self.limits))
        self._checked[key] = checked
        if len(self._checked) > COMPILED_VERSIONS:
            self._checked.popitem(last=False)
        return checked

    async def rule(self, job_name: str) -> Rule | None:
        """The repository rule a job names (None: unknown name or version)."""
        parsed = parse_rule_job_name(job_name)
        if parsed is None:
            return None
        kind, repository, commit, name = parsed
        checked = await self.version(repository, commit, kind)
        if checked is None:
            return None
        return next((r for r in checked.rules if r.name == name), None)

    async def for_event(
        self, github: GitHubAPI, event: Event
    ) -> tuple[RepositoryRules | None, RepositoryRules | None]:
        """(organisation defaults, the repository's own rules) for an event's repository."""
        assert event.repository is not None and event.owner is not None
        default = event.payload.get("repository", {}).get("default_branch")
        default = default if isinstance(default, str) else None
        own = await self.current(
            github,
            event.repository,
            "repository",
            branch=default,
            refresh_to=event.sha if touches_rules(event, default) else None,
        )
        defaults_repo = f"{event.owner}/{DEFAULTS_REPOSITORY}"
        if event.repository.lower() == defaults_repo.lower():
            return None, own  # the .github repository's rules apply to it once
        return await self.current(github, defaults_repo, "defaults"), own


def _too_large(path: str, size: int, limits: RepositoryLimits) -> Skipped:
    return Skipped(
        path, f"the file has {size:,} bytes; a rule file may have at most {limits.file_bytes:,}"
    )
