"""The two jobs repository rules add to a delivery (docs/design.md §2.4):

- `@repository`: match the delivery against its repository's rules and the organisation
  defaults, and queue one job per matched rule; the delivery's trace says which rules came
  from where, which files were skipped as broken and why, and why the others did not match.
- `@rules-check`: on a pull request that changes `.github/hookwise/`, the check run
  `hookwise / rules` on its head commit, with the rule set as it would be after merging,
  one annotation per problem. It runs whatever the server rules say, once per head commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from engine.github.api import GitHubAPI, GitHubError, RateLimited
from engine.github.changed_files import FilesUnknown
from engine.github.repo_files import RuleFilesError, read_rule_files
from engine.github.teams import read_memberships
from engine.lang.diagnostics import Diagnostic
from engine.lang.model import Rule, RuleSource, Scope
from engine.lang.report import ANNOTATIONS_PER_REQUEST, check_run_output
from engine.lang.repository import RepositoryRules, check_repository, effective_rules
from engine.lang.repository_limits import RULES_DIR
from engine.match.events import Event
from engine.match.index import RuleIndex
from engine.match.matcher import MatchResult, complete, match
from engine.observe import logs
from engine.run.executor import ExecutionOptions
from engine.run.recorded_github import node_error
from engine.store.records import DONE, FAILED, NOT_MATCHED, Job
from engine.workers.repository_rules import (
    REPOSITORY_JOB,
    RULES_CHECK_JOB,
    Busy,
    RuleVersions,
    rule_job_name,
)

if TYPE_CHECKING:
    from engine.workers.jobs import JobRunner

log = logs.get("hookwise.worker")
REPOSITORY_KIND = "repository"
RULES_CHECK_KIND = "rules-check"
REPOSITORY_KINDS = frozenset({REPOSITORY_KIND, RULES_CHECK_KIND})
CHECK_NAME = "hookwise / rules"
BUSY_RETRY = 0.2  # seconds before a job waiting for another worker's read looks again
CHECKED_ACTIONS = frozenset({"opened", "synchronize", "reopened"})


def repository_jobs(event: Event) -> list[tuple[str, str]]:
    """The jobs repository rules add to a delivery at ingest."""
    if event.repository is None or event.installation_id is None:
        return []
    jobs = [(REPOSITORY_JOB, REPOSITORY_KIND)]
    if event.name == "pull_request" and event.action in CHECKED_ACTIONS:
        jobs.append((RULES_CHECK_JOB, RULES_CHECK_KIND))
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
    """Runs `@repository` and `@rules-check` jobs for a JobRunner."""

    def __init__(self, runner: JobRunner) -> None:
        self.runner = runner
        pool = runner.pool
        self.versions = RuleVersions(pool.store, pool.settings, pool.registry, runner._db, pool.name)

    def _api(self, event: Event) -> GitHubAPI | None:
        github = self.runner.pool.github
        if github is None or event.installation_id is None:
            return None
        return github.installation(event.installation_id)

    async def run(self, job: Job, event: Event) -> None:
        """Run one `@repository` or `@rules-check` job."""
        api = self._api(event)
        if api is None or event.repository is None:
            await self.runner._finish(
                job, NOT_MATCHED, error="not matched: repository rules need App credentials"
            )
            return
        try:
            if job.kind == REPOSITORY_KIND:
                await self._match(job, event, api)
            else:
                await self._check(job, event, api)
        except Busy:
            await self.runner._db(
                self.runner.store.requeue_job, job, self.runner.pool.name, delay=BUSY_RETRY,
                retry=False,
            )
        except RateLimited as exc:  # not a missing permission: wait until the limit passes
            await self.runner._db(
                self.runner.store.requeue_job, job, self.runner.pool.name,
                delay=max(exc.wait, BUSY_RETRY), error=f"rate limited: {exc.message}", retry=False,
            )
        except GitHubError as exc:
            failure = node_error(exc)
            if exc.status == 403:  # a permission the App was not given: not this delivery's fault
                need = "Contents: read" if job.kind == REPOSITORY_KIND else "Checks: write"
                log.warning(
                    "repository rules skipped: the App lacks a permission",
                    delivery=event.delivery, needs=need, error=failure.message,
                )
                await self.runner._finish(
                    job,
                    NOT_MATCHED,
                    error=f"not matched: {failure.message}; the App needs {need} for repository rules",
                )
                return
            message = f"could not read the repository rules: {failure.message}"
            if failure.retryable and job.attempts < self.runner.settings.job_attempts:
                await self.runner._requeue(job, f"attempt {job.attempts}: {message}", "repo_rules")
            else:
                await self.runner._finish(job, FAILED, error=message)
        except RuleFilesError as exc:
            await self.runner._finish(job, FAILED, error=f"could not read the repository rules: {exc}")

    # --- @repository ---------------------------------------------------------------------

    async def _match(self, job: Job, event: Event, api: GitHubAPI) -> None:
        defaults, own = await self.versions.for_event(api, event)
        rules, replaced = effective_rules(defaults, own)
        result = await self._decide(event, api, RuleIndex(rules))
        spawn = [(rule_job_name(m.rule), "run") for m in result.matched]
        trace = _trace([v for v in (own, defaults) if v is not None], replaced, result)
        for item in trace["skipped"]:
            log.warning(
                "repository rule file skipped",
                delivery=event.delivery, file=item["file"], reason=item["reason"],
            )
        state, error = (DONE, None) if spawn else (NOT_MATCHED, "not matched: no repository rule matches")
        if await self.runner._db(
            self.runner.store.finish_job, job, self.runner.pool.name, state=state, error=error,
            spawn=spawn, trace={"repository": trace},
        ):
            self.runner.pool.jobs_done += 1
            if spawn:
                self.runner.pool.wake()

    async def _decide(self, event: Event, api: GitHubAPI, index: RuleIndex) -> MatchResult:
        """Match, reading the facts the repository's rules wait for (once per delivery)."""
        result = match(event, index)
        if result.needs_files:
            try:
                files = await self.runner._changed_files(api, event, ExecutionOptions(github=api))
            except FilesUnknown:
                return result  # those rules stay undecided, with their reason in the trace
            result = complete(result, files)
        needs = result.needs
        if needs is not None and needs.memberships and event.installation_id is not None:
            facts = await read_memberships(
                api, event.installation_id, needs.memberships, self.runner.pool.memberships
            )
            result = complete(result, memberships=facts)
        return result

    # --- @rules-check --------------------------------------------------------------------

    async def _check(self, job: Job, event: Event, api: GitHubAPI) -> None:
        assert event.repository is not None
        if event.sha is None or event.number is None:
            await self.runner._finish(job, NOT_MATCHED, error="not matched: no head commit")
            return
        try:
            changed = await self.runner._changed_files(api, event, ExecutionOptions(github=api))
        except FilesUnknown:
            changed = None  # too many files to list: check the rules anyway
        if changed is not None and not any(p.startswith(RULES_DIR + "/") for p in changed):
            error = f"not matched: the pull request changes no file under {RULES_DIR}/"
            await self.runner._finish(job, NOT_MATCHED, error=error)
            return
        versions = self.versions
        files = await read_rule_files(api, event.repository, event.sha, versions.limits)
        source = RuleSource("repository", event.repository, event.sha)
        raw = {path: content for path, (_, content) in files.files.items()}
        checked = check_repository(raw, source, versions.registry, versions.limits, too_many=files.too_many)
        for path, size in files.too_large.items():
            message = f"the file has {size:,} bytes; a rule file may have at most {versions.limits.file_bytes:,}"
            checked.diagnostics.append(Diagnostic(path, 1, 1, "repository-limit", message))
        count = len(files.files) + len(files.too_many) + len(files.too_large)
        conclusion, output, annotations = check_run_output(count, len(checked.rules), checked.diagnostics)
        run_id = await self._report(api, event, conclusion, output, annotations)
        trace = {"conclusion": conclusion, "problems": len(annotations), "check_run": run_id}
        if await self.runner._db(
            self.runner.store.finish_job, job, self.runner.pool.name, state=DONE,
            trace={"rules_check": trace},
        ):
            self.runner.pool.jobs_done += 1

    async def _report(
        self,
        api: GitHubAPI,
        event: Event,
        conclusion: str,
        output: dict[str, Any],
        annotations: list[dict[str, Any]],
    ) -> int | None:
        """Create the check run once per head commit (a redelivery finds it and stops)."""
        assert event.repository is not None and event.sha is not None
        owner, name = event.repository.split("/", 1)
        base = f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"
        external = f"hookwise-rules:{event.sha}"
        listed = await api.request(
            "GET",
            f"{base}/commits/{quote(event.sha, safe='')}/check-runs",
            params={"check_name": CHECK_NAME, "filter": "all", "per_page": 100},
        )
        for existing in listed.get("check_runs", []) if isinstance(listed, dict) else []:
            if existing.get("external_id") == external and existing.get("status") == "completed":
                return int(existing["id"])
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
