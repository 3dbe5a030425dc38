"""The delivery log as people read it: one delivery's outcome for every rule, in words.

The match trace recorded at ingest says which rules matched, which waited for the changed
files, and why the others did not match; the jobs say how the waiting ones were decided
later (matched, not matched with a reason, or undecided with a reason). Both the command
line (`hookwise deliveries show`) and the browser log build their view here, so they agree.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from engine.store.records import StoredDelivery

MATCHED = "matched"
NOT_MATCHED = "not matched"
UNDECIDED = "undecided"
WAITING = "waiting for the changed files"


@dataclass
class RuleOutcome:
    """One rule's outcome for a delivery."""

    rule: str
    outcome: str  # matched, not matched, undecided, waiting for the changed files
    reason: str | None = None
    job_state: str | None = None
    source: str = "server"  # or "repository octo-org/hello at 1a2b3c4", ...


@dataclass
class DeliveryView:
    """A delivery with its outcome per rule and its runs."""

    delivery: StoredDelivery
    rules: list[RuleOutcome] = field(default_factory=list)
    not_candidates: int = 0
    runs: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # where repository rules were read
    skipped: list[dict[str, str]] = field(default_factory=list)  # broken files, with why
    replaced: list[str] = field(default_factory=list)  # defaults replaced or switched off

    def summary(self) -> dict[str, Any]:
        """The `deliveries list` shape of the delivery."""
        return summary(self.delivery)

    def outcomes(self, outcome: str) -> list[RuleOutcome]:
        """The rules with one outcome."""
        return [r for r in self.rules if r.outcome == outcome]


def iso(moment: float) -> str:
    """A UTC timestamp as ISO 8601."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


def summary(delivery: StoredDelivery) -> dict[str, Any]:
    """delivery, event, action, repository, received_at, status (docs/design.md §3)."""
    return {
        "delivery": delivery.delivery_id,
        "event": delivery.event,
        "action": delivery.action,
        "repository": delivery.repository,
        "received_at": iso(delivery.received_at),
        "status": delivery.status,
    }


def describe(
    delivery: StoredDelivery, jobs: list[dict[str, Any]], runs: list[dict[str, Any]]
) -> DeliveryView:
    """Every rule's outcome for a delivery, from its trace and its latest jobs."""
    trace = delivery.match_trace
    latest = max((j["generation"] for j in jobs), default=0)
    job_of = {j["rule"]: j for j in jobs if j["generation"] == latest}
    view = DeliveryView(delivery, not_candidates=int(trace.get("not_candidates", 0)))
    for name in trace.get("matched", []):
        job = job_of.get(name)
        view.rules.append(RuleOutcome(name, MATCHED, None, job["state"] if job else None))
    for name in trace.get("pending", []):
        view.rules.append(_decided_later(name, job_of.get(name)))
    for item in trace.get("not_matched", []):
        view.rules.append(RuleOutcome(item["rule"], NOT_MATCHED, item["reason"]))
    _repository(view, trace.get("repository"), job_of)
    view.runs = runs
    view.jobs = jobs
    return view


def _repository(view: DeliveryView, trace: Any, job_of: dict[str, dict[str, Any]]) -> None:
    """The repository rules' part of the view (traced by the `@repository` job)."""
    repository_job = job_of.get("@repository")
    if not isinstance(trace, dict):
        if repository_job is not None and repository_job["state"] in ("queued", "running"):
            view.sources.append("repository rules: being read")
        elif repository_job is not None and repository_job["state"] == "failed":
            view.sources.append(f"repository rules: {repository_job.get('error')}")
        return
    view.sources.extend(trace.get("sources", []))
    view.skipped.extend(trace.get("skipped", []))
    view.replaced.extend(trace.get("replaced", []))
    for item in trace.get("matched", []):
        view.rules.append(RuleOutcome(item["rule"], MATCHED, None, None, item["source"]))
    for item in trace.get("undecided", []):
        view.rules.append(RuleOutcome(item["rule"], UNDECIDED, item["reason"], None, item["source"]))
    for item in trace.get("not_matched", []):
        view.rules.append(RuleOutcome(item["rule"], NOT_MATCHED, item["reason"], None, item["source"]))


def _decided_later(name: str, job: dict[str, Any] | None) -> RuleOutcome:
    """A rule that waited for the changed files, as its job decided it."""
    if job is None:
        return RuleOutcome(name, UNDECIDED, "its job was not found")
    state, error = job["state"], job.get("error") or None
    if state in ("queued", "running"):
        return RuleOutcome(name, WAITING, None, state)
    if state == "not_matched":
        return RuleOutcome(name, NOT_MATCHED, (error or "").removeprefix("not matched: "), state)
    if state == "undecided":
        return RuleOutcome(name, UNDECIDED, (error or "").removeprefix("undecided: "), state)
    return RuleOutcome(name, MATCHED, None, state)
