"""What each page of the browser log shows, read from the store and the loaded rules.

Built from the same view as `hookwise deliveries show` (engine.edge.deliverylog), so the
command line and the browser agree. Nothing here renders HTML: the templates do, escaping
every value; and nothing secret is ever put in a page's data.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from engine.edge.deliverylog import MATCHED, NOT_MATCHED, UNDECIDED, WAITING, describe, iso
from engine.edge.ingest import Hookwise
from engine.edge.ui.graph import Layout, layout
from engine.lang.files import validate_paths
from engine.lang.model import Rule
from engine.lang.repository import RepositoryRules
from engine.store.records import DeliveryFilter
from engine.text import seconds_of
from engine.workers.repository_rules import RuleVersions

T = TypeVar("T")
PAGE_SIZE = 50
STATUSES = ("queued", "running", "done", "failed", "undecided", "no_match")
WINDOWS = ("1h", "24h", "7d", "30d")
OUTCOME_ORDER = (MATCHED, WAITING, UNDECIDED, NOT_MATCHED)
PAYLOAD_SHOWN = 512 * 1024  # characters of a payload put in the page; the rest is cut
VALUE_SHOWN = 16 * 1024  # characters of one node's outputs, a call's body or a log line shown
HIDDEN_HEADER_PARTS = ("signature", "authorization", "cookie", "token", "secret")


@dataclass(frozen=True)
class ListQuery:
    """The delivery list's filters and page, from the query string."""

    repository: str = ""
    event: str = ""
    status: str = ""
    since: str = ""
    before: int | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> ListQuery:
        """Filters from query parameters; unknown values are dropped, never an error page."""
        status = params.get("status", "")
        since = params.get("since", "")
        before = params.get("before", "")
        return cls(
            repository=params.get("repository", "").strip()[:200],
            event=params.get("event", "").strip()[:100],
            status=status if status in STATUSES else "",
            since=since if since in WINDOWS else "",
            before=int(before) if before.isdigit() else None,
        )

    def store_filter(self, now: float) -> DeliveryFilter:
        """The store's filter for these parameters."""
        return DeliveryFilter(
            repository=self.repository or None,
            event=self.event or None,
            status=self.status or None,
            since=now - seconds_of(self.since) if self.since else None,
            before_id=self.before,
        )

    def params(self, **change: Any) -> dict[str, str]:
        """The query string of these filters (with changes), for links."""
        values = {
            "repository": self.repository,
            "event": self.event,
            "status": self.status,
            "since": self.since,
            "before": "" if self.before is None else str(self.before),
            **{k: "" if v is None else str(v) for k, v in change.items()},
        }
        return {k: v for k, v in values.items() if v}


def delivery_list(hookwise: Hookwise, query: ListQuery) -> dict[str, Any]:
    """The list page: one page of deliveries, newest first, and the next page's cursor."""
    store = hookwise.store
    found = store.deliveries(PAGE_SIZE + 1, query.store_filter(time.time()))
    shown = found[:PAGE_SIZE]
    rows = [
        {
            "delivery": d.delivery_id,
            "event": d.event,
            "action": d.action or "",
            "repository": d.repository or "",
            "received_at": iso(d.received_at),
            "status": d.status,
            "matched": len(d.match_trace.get("matched", [])),
            "waiting": len(d.match_trace.get("pending", [])),
        }
        for d in shown
    ]
    cursor = store.delivery_row_id(shown[-1].delivery_id) if len(found) > PAGE_SIZE else None
    return {
        "rows": rows,
        "query": query,
        "next": query.params(before=cursor) if cursor is not None else None,
        "first": query.params(before=None) if query.before is not None else None,
        "statuses": STATUSES,
        "windows": WINDOWS,
    }


def shown_headers(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """The headers worth showing: never a signature or a credential."""
    return sorted(
        (name, value)
        for name, value in headers.items()
        if not any(part in name.lower() for part in HIDDEN_HEADER_PARTS)
    )


def _needs(rule: Rule | None) -> dict[str, tuple[str, ...]]:
    if rule is None:
        return {}
    return {node.id: tuple(node.needs) for node in rule.nodes.values()}


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def _shown(text: str, limit: int = VALUE_SHOWN) -> str:
    """A large value cut for the page, saying how much it held (the record keeps it whole)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… (cut: {len(text):,} characters; the page shows {limit:,})"


def run_view(run: Mapping[str, Any], rule: Rule | None) -> dict[str, Any]:
    """One run: its graph, and each node with its outputs, error and GitHub calls."""
    record = run["record"]
    nodes = record.get("nodes", [])
    calls = record.get("calls", [])
    drawing: Layout = layout(nodes, _needs(rule))
    details = []
    for node in nodes:
        mine = [c for c in calls if c.get("node") == node["id"]]
        details.append(
            {
                "id": node["id"],
                "uses": node.get("uses", ""),
                "status": node.get("status", ""),
                "attempts": node.get("attempts", 0),
                "reason": node.get("reason"),
                "outputs": _shown(_json(node["outputs"])) if node.get("outputs") else "",
                "error": _shown(node["error"]) if node.get("error") else node.get("error"),
                "calls": [_call(c) for c in mine],
            }
        )
    unowned = [_call(c) for c in calls if not c.get("node")]
    return {
        "rule": run["rule"],
        "generation": run["generation"],
        "status": run["status"],
        # a success in which no node ran did nothing: say so, not a plain green "success"
        "shown_status": (
            "success: every node skipped"
            if run["status"] == "success" and nodes and all(n.get("status") == "skipped" for n in nodes)
            else run["status"]
        ),
        "file": record.get("file", ""),
        "error": record.get("error"),
        "dry_run": bool(record.get("dry_run")),
        "started_at": iso(record["started_at"]) if record.get("started_at") else "",
        "graph": drawing,
        "nodes": details,
        "calls": unowned,
        "logs": [_shown(str(line)) for line in record.get("logs", [])],
    }


def _call(call: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "method": call.get("method", ""),
        "path": call.get("path", ""),
        "status": call.get("status"),
        "sent": bool(call.get("sent")),
        "body": _shown(_json(call["body"])) if call.get("body") is not None else "",
    }


def delivery_detail(hookwise: Hookwise, delivery_id: str) -> dict[str, Any] | None:
    """The delivery page: summary, headers, payload, every rule's outcome, runs, jobs."""
    store = hookwise.store
    delivery = store.delivery(delivery_id)
    if delivery is None:
        return None
    jobs = store.jobs(delivery_id)
    view = describe(delivery, jobs, store.runs(delivery_id))
    rules = {r.name: r for r in hookwise.ruleset.rules}
    outcomes = sorted(view.rules, key=lambda r: (OUTCOME_ORDER.index(r.outcome), r.rule))
    payload = ""
    if delivery.payload is not None:
        payload = _json(delivery.payload)
        if len(payload) > PAYLOAD_SHOWN:
            payload = payload[:PAYLOAD_SHOWN] + "\n… (cut: the payload is larger than the page shows)"
    latest = max((j["generation"] for j in jobs), default=0)
    busy = any(j["state"] in ("queued", "running") and j["generation"] == latest for j in jobs)
    return {
        "summary": view.summary(),
        "installation": delivery.installation_id,
        "headers": shown_headers(delivery.headers),
        "payload": payload,
        "payload_bytes": len(payload.encode()),
        "outcomes": outcomes,
        "counts": {o: len(view.outcomes(o)) for o in OUTCOME_ORDER},
        "not_candidates": view.not_candidates,
        # which rules: those loaded now that the trace does not name (the rule set may have
        # changed since the delivery arrived; the count is the one recorded then)
        "not_listening": sorted(set(rules) - {r.rule for r in view.rules})[: view.not_candidates],
        "sources": view.sources,
        "skipped": view.skipped,
        "replaced": view.replaced,
        "runs": [
            run_view(r, rules.get(r["rule"]))
            for r in sorted(view.runs, key=lambda r: (-r["generation"], r["rule"]))
        ],
        "jobs": [
            {k: j[k] for k in ("rule", "generation", "kind", "state", "attempts", "error")}
            for j in jobs
        ],
        "busy": busy,
        "replayable": delivery.payload is not None,
    }


@dataclass
class RuleGroup:
    """Rules from one source, with the problems of their files."""

    title: str
    rules: list[dict[str, Any]] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


def _rule_row(rule: Rule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "file": rule.file,
        "events": sorted({t.event for t in rule.triggers}),
        "nodes": len(rule.nodes),
        "condition": rule.condition_source or "",
        "disabled": rule.disabled,
        "description": rule.description,
    }


async def _in_thread(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.to_thread(call, *args, **kwargs)


async def rules_page(hookwise: Hookwise, versions: RuleVersions | None) -> list[RuleGroup]:
    """The server's rules (with their files' warnings) and each repository's current rules."""
    server = RuleGroup(f"server: {hookwise.settings.rules_path}")
    server.rules = [_rule_row(r) for r in hookwise.ruleset.rules]
    checked = await asyncio.to_thread(validate_paths, [hookwise.settings.rules_path], hookwise.registry)
    server.problems = [d.to_json() for d in checked.diagnostics]
    groups = [server]
    heads = await asyncio.to_thread(hookwise.store.rule_heads)
    for head in heads:
        if not head["commit_sha"]:
            groups.append(RuleGroup(f"repository {head['repository']}: no rule files"))
            continue
        found: RepositoryRules | None = None
        if versions is not None:
            found = await versions.version(head["repository"], head["commit_sha"], "repository")
        group = RuleGroup(f"repository {head['repository']} at {head['commit_sha'][:7]}")
        if found is not None:
            group.rules = [_rule_row(r) for r in found.rules]
            group.problems = [d.to_json() for d in found.diagnostics]
            group.skipped = [{"file": s.path, "reason": s.reason} for s in found.skipped]
        groups.append(group)
    return groups


def installations_page(hookwise: Hookwise) -> list[dict[str, Any]]:
    """Installations as the store knows them (no credentials, no install states)."""
    rows = []
    for item in hookwise.store.installations():
        state = "active"
        if item.get("deleted_at"):
            state = "removed"
        elif item.get("suspended_at"):
            state = "suspended"
        rows.append(
            {
                "id": item["id"],
                "account": item.get("account") or "",
                "account_type": item.get("account_type") or "",
                "repositories": item["repositories"],
                "state": state,
                "created_at": iso(item["created_at"]),
                "updated_at": iso(item["updated_at"]),
            }
        )
    return rows


def rule_versions(hookwise: Hookwise) -> RuleVersions | None:
    """The reader of repository rule versions the rules page checks (None: they are off)."""
    if not hookwise.settings.repo_rules:
        return None
    return RuleVersions(hookwise.store, hookwise.settings, hookwise.registry, _in_thread, "ui")
