"""The two jobs repository rules add to a delivery (docs/design.md §2.4):

- `@repository`: match the delivery against its repository's rules and the organisation
  defaults, and queue one job per matched rule; the delivery's trace says which rules came
  from where, which files were skipped as broken and why, and why the others did not match.
- `@rules-check`: on a pull request that changes `.github/hookwise/`, the check run
  `hookwise / rules` on its head commit, with the rule set as it would be after merging,
  one annotation per problem. It runs whatever the server rules say, once per head commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from engine.github.api import GitHubAPI, GitHubError
from engine.github.changed_files import FilesUnknown
from engine.github.facts import GitHubFacts
from engine.github.repo_files import RuleFilesError, read_rule_files
from engine.lang.diagnostics import Diagnostic
from engine.lang.model import Rule, RuleSource, Scope
from engine.lang.report import ANNOTATIONS_PER_REQUEST, check_run_output
from engine.lang.repository import RepositoryRules, check_repository, effective_rules
from engine.lang.repository_limits import RULES_DIR
from engine.lang.ruletests import parse_test_file
from engine.lang.source import decode
from engine.match.events import Event
from engine.match.index import RuleIndex
from engine.match.matcher import MatchResult, decide_delivery
from engine.observe import logs
from engine.run.ruletest import run_case
from engine.store.coordination import WAIT
from engine.store.records import DONE, FAILED, NOT_MATCHED, Job, JobKind
from engine.workers.context import WorkContext
from engine.workers.repository_rules import (
    REPOSITORY_JOB,
    RULES_CHECK_JOB,
    Busy,
    RuleVersions,
    rule_job_name,
)

log = logs.get("hookwise.worker")
CHECK_NAME = "hookwise / rules"
BUSY_RETRY = 0.2  # seconds before a job waiting for another worker's read looks again
CHECKED_ACTIONS = frozenset({"opened", "synchronize", "reopened"})


def repository_jobs(event: Event) -> list[tuple[str, str]]:
    """The jobs repository rules add to a delivery at ingest."""
    if event.repository is None or event.installation_id is None:
        return []
    jobs = [(REPOSITORY_JOB, JobKind.REPOSITORY.value)]
    if event.name == "pull_request" and event.action in CHECKED_ACTIONS:
        jobs.append((RULES_CHECK_JOB, JobKind.RULES_CHECK.value))
    return jobs


def repository_id(event: Event) -> int | None:
    """The event's repository id (a token can be limited to it)."""
    value = event.payload.get("repository", {}).get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def scope_for(rule: Rule, event: Event) -> Scope | None:
    """Where a rule may act for this event: anywhere for server rules; for a repository rule
    and an organisation default, the event's repository (the one whose event it handles)."""
    if rule.scope is None or event.owner is None:
        return None
    return Scope(event.owner, event.repository)


class RepositoryJobs:
    """The `@repository` and `@rules-check` job handlers."""

    def __init__(self, context: WorkContext) -> None:
        self.context = context
        self.versions = RuleVersions(
            context.store, context.settings, context.registry, context.db, context.worker
        )

    async def match(self, job: Job, event: Event) -> None:
        """`@repository`: match the repository's rules, queue one job per matched rule."""
        await self._guarded(job, event, self._match, needs="Contents: read")

    async def check(self, job: Job, event: Event) -> None:
        """`@rules-check`: the `hookwise / rules` check run on the pull request's head."""
        await self._guarded(job, event, self._check, needs="Checks: write")

    async def _guarded(
        self,
        job: Job,
        event: Event,
        handle: Callable[[Job, Event, GitHubAPI], Awaitable[None]],
        *,
        needs: str,
    ) -> None:
        context = self.context
        api = context.installation(event)
        if api is None or event.repository is None:
            await context.finish(
                job, NOT_MATCHED, error="not matched: repository rules need App credentials"
            )
            return
        try:
            await handle(job, event, api)
        except Busy:
            await context.defer(job, BUSY_RETRY)
        except GitHubError as exc:
            await context.github_failed(
                job, exc, "the repository rules", needs=f"{needs} for repository rules"
            )
        except RuleFilesError as exc:
            await context.finish(job, FAILED, error=f"could not read the repository rules: {exc}")

    # --- @repository ---------------------------------------------------------------------

    async def _match(self, job: Job, event: Event, api: GitHubAPI) -> None:
        defaults, own = await self.versions.for_event(api, event)
        rules, replaced = effective_rules(defaults, own)
        facts = GitHubFacts(
            api,
            event.installation_id,
            files=self.context.files,
            memberships=self.context.memberships,
        )
        result = await decide_delivery(event, RuleIndex(rules), facts)
        spawn = [(rule_job_name(m.rule), "run") for m in result.matched]
        trace = _trace([v for v in (own, defaults) if v is not None], replaced, result)
        for item in trace["skipped"]:
            log.warning(
                "repository rule file skipped",
                delivery=event.delivery, file=item["file"], reason=item["reason"],
            )
        state, error = (DONE, None) if spawn else (NOT_MATCHED, "not matched: no repository rule matches")
        await self.context.finish(
            job, state, error=error, spawn=spawn, trace={"repository": trace}
        )

    # --- @rules-check --------------------------------------------------------------------

    async def _check(self, job: Job, event: Event, api: GitHubAPI) -> None:
        """Once per head commit for the fleet: one job at a time per head (a group in the
        store), and a head whose check run is finished is left as it is (a redelivery costs
        one call)."""
        assert event.repository is not None
        context = self.context
        if event.sha is None or event.number is None:
            await context.finish(job, NOT_MATCHED, error="not matched: no head commit")
            return
        group = f"@rules-check {event.repository.lower()}@{event.sha}"
        if await context.db(context.store.acquire_group, group, job.id, cancel_in_progress=False) == WAIT:
            raise Busy(group)
        try:
            finished = await self._finished_check(api, event)
            if finished is not None:
                trace = {"check_run": finished, "reused": True}
                await context.finish(job, DONE, trace={"rules_check": trace})
                return
            await self._check_head(job, event, api)
        finally:
            await context.db(context.store.release_group, group, job.id)

    async def _check_head(self, job: Job, event: Event, api: GitHubAPI) -> None:
        assert event.repository is not None and event.sha is not None
        context = self.context
        try:
            changed: tuple[str, ...] | None = await context.files.read(api, event)
        except FilesUnknown:
            changed = None  # too many files to list: check the rules anyway
        if changed is not None and not any(p.startswith(RULES_DIR + "/") for p in changed):
            error = f"not matched: the pull request changes no file under {RULES_DIR}/"
            await context.finish(job, NOT_MATCHED, error=error)
            return
        versions = self.versions
        files = await read_rule_files(api, event.repository, event.sha, versions.limits, tests=True)
        source = RuleSource("repository", event.repository, event.sha)
        raw = {path: content for path, (_, content) in files.files.items()}
        checked = check_repository(raw, source, versions.registry, versions.limits, too_many=files.too_many)
        for path, size in files.too_large.items():
            message = f"the file has {size:,} bytes; a rule file may have at most {versions.limits.file_bytes:,}"
            checked.diagnostics.append(Diagnostic(path, 1, 1, "repository-limit", message))
        if not any(d.severity == "error" for d in checked.diagnostics):
            checked.diagnostics.extend(await rule_test_problems(files.tests, list(checked.rules), context.registry))
        count = len(files.files) + len(files.too_many) + len(files.too_large) + len(files.tests)
        conclusion, output, annotations = check_run_output(count, len(checked.rules), checked.diagnostics)
        run_id = await self._report(api, event, conclusion, output, annotations)
        trace = {"conclusion": conclusion, "problems": len(annotations), "check_run": run_id}
        await context.finish(job, DONE, trace={"rules_check": trace})

    async def _finished_check(self, api: GitHubAPI, event: Event) -> int | None:
        """The id of this head's finished `hookwise / rules` check run, if there is one."""
        assert event.repository is not None and event.sha is not None
        listed = await api.request(
            "GET",
            f"{_repository_path(event.repository)}/commits/{quote(event.sha, safe='')}/check-runs",
            params={"check_name": CHECK_NAME, "filter": "all", "per_page": 100},
        )
        external = f"hookwise-rules:{event.sha}"
        for existing in listed.get("check_runs", []) if isinstance(listed, dict) else []:
            if existing.get("external_id") == external and existing.get("status") == "completed":
                return int(existing["id"])
        return None

    async def _report(
        self,
        api: GitHubAPI,
        event: Event,
        conclusion: str,
        output: dict[str, Any],
        annotations: list[dict[str, Any]],
    ) -> int | None:
        """Create the check run of the head commit (its annotations in batches)."""
        assert event.repository is not None and event.sha is not None
        base = _repository_path(event.repository)
        external = f"hookwise-rules:{event.sha}"
        batches = [
            annotations[i : i + ANNOTATIONS_PER_REQUEST]
            for i in range(0, len(annotations), ANNOTATIONS_PER_REQUEST)
        ] or [[]]
        body = {
            "name": CHECK_NAME,
            "head_sha": event.sha,
            "external_id": external,
            "status": "in_progress" if len(batches) > 1 else "completed",
            "output": {**output, "annotations": batches[0]},
        }
        if len(batches) == 1:
            body["conclusion"] = conclusion
        created = await api.request("POST", f"{base}/check-runs", body=body)
        run_id = int(created["id"])
        for index, batch in enumerate(batches[1:], start=2):
            update: dict[str, Any] = {"output": {**output, "annotations": batch}}
            if index == len(batches):  # the last batch completes the run
                update.update(status="completed", conclusion=conclusion)
            await api.request("PATCH", f"{base}/check-runs/{run_id}", body=update)
        return run_id


async def rule_test_problems(tests: dict[str, bytes], rules: list[Rule], registry: Any) -> list[Diagnostic]:
    """The rule tests beside a repository's rules, run offline against the rules as they would
    be after merging (canned answers, writes planned): each failure at the line it expects."""
    problems: list[Diagnostic] = []
    for path, raw in sorted(tests.items()):
        text, problem = decode(raw, path)
        if text is None:
            problems.extend([problem] if problem else [])
            continue
        parsed = parse_test_file(text, path)
        problems.extend(parsed.diagnostics)
        if any(d.severity == "error" for d in parsed.diagnostics):
            continue
        for case in parsed.cases:
            if "file" in case.payload:  # the checkout is not here: only GitHub's API is
                message = (
                    f'case "{case.name}": a payload file is not read here; '
                    "write {data: ...} or {example: ...}"
                )
                problems.append(Diagnostic(path, case.line, 1, "rule-test", message))
                continue
            result = await run_case(case, Path(path).parent, rules, registry)
            if result.error:
                problems.append(Diagnostic(path, case.line, 1, "rule-test", f'case "{case.name}": {result.error}'))
            for failure in result.failures:
                problems.append(
                    Diagnostic(path, failure.line, 1, "rule-test", f'case "{case.name}": {failure.message}')
                )
    return problems


def _repository_path(repository: str) -> str:
    owner, name = repository.split("/", 1)
    return f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"


def _trace(
    versions: list[RepositoryRules], replaced: list[str], result: MatchResult
) -> dict[str, Any]:
    """What the delivery log keeps of the repository rules: where they came from, which files
    were skipped and why, and each rule's decision."""
    def label(rule: Rule) -> dict[str, str]:
        return {"rule": rule.name, "file": rule.file, "source": rule.source.describe()}

    return {
        "sources": [v.source.describe() for v in versions],
        "skipped": [
            {"file": s.path, "source": v.source.describe(), "reason": s.reason}
            for v in versions
            for s in v.skipped
        ],
        "replaced": replaced,
        "matched": [label(m.rule) for m in result.matched],
        "not_matched": [{**label(r.rule), "reason": r.reason} for r in result.not_matched()],
        "undecided": [
            {**label(r.rule), "reason": r.reason}
            for r in result.undecided("which could not be read")
        ],
    }
