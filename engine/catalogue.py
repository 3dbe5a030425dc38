"""GitHub's webhook events and their actions, and which trigger filters each event carries.

The event list is GitHub's own (octokit's generated webhook catalogue, shipped as
engine/data/webhook-events.json, identical to shared/fixtures/github/webhook-events.json).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

# GitHub Actions runs pull_request workflows only for these actions unless `types` says
# otherwise: https://docs.github.com/en/actions/reference/workflows-and-actions/events-that-trigger-workflows#pull_request
DEFAULT_TYPES: dict[str, tuple[str, ...]] = {
    "pull_request": ("opened", "synchronize", "reopened"),
}

PR_EVENTS = frozenset(
    {
        "pull_request",
        "pull_request_review",
        "pull_request_review_comment",
        "pull_request_review_thread",
    }
)
ISSUE_EVENTS = frozenset({"issues", "issue_comment"})

# Which events can carry which filters (DESIGN §2.1). Filters not listed apply to all events.
BRANCH_EVENTS = PR_EVENTS | {
    "push",
    "check_run",
    "check_suite",
    "workflow_run",
    "deployment",
    "deployment_status",
    "merge_group",
}
TAG_EVENTS = frozenset({"push", "create", "delete", "release"})
PATH_EVENTS = frozenset({"push", "pull_request"})
LABEL_EVENTS = PR_EVENTS | ISSUE_EVENTS

FILTER_EVENTS: dict[str, frozenset[str]] = {
    "branches": frozenset(BRANCH_EVENTS),
    "branches-ignore": frozenset(BRANCH_EVENTS),
    "tags": TAG_EVENTS,
    "tags-ignore": TAG_EVENTS,
    "paths": PATH_EVENTS,
    "paths-ignore": PATH_EVENTS,
    "labels": LABEL_EVENTS,
}

# Filter keys, in the order the matcher tries them (cheapest first); `paths` is last
# because it may need an API call.
FILTER_KEYS = (
    "repository",
    "types",
    "branches",
    "branches-ignore",
    "tags",
    "tags-ignore",
    "labels",
    "authors",
    "actors",
    "ignore-bots",
    "paths",
    "paths-ignore",
)
EXCLUSIVE_PAIRS = (
    ("branches", "branches-ignore"),
    ("tags", "tags-ignore"),
    ("paths", "paths-ignore"),
)


@cache
def webhook_events() -> dict[str, tuple[str, ...]]:
    """Every webhook event GitHub sends, with its possible `action` values (sorted)."""
    raw = resources.files("engine").joinpath("data/webhook-events.json").read_text("utf-8")
    events = json.loads(raw)["events"]
    return {name: tuple(sorted(info["actions"])) for name, info in events.items()}


def event_names() -> list[str]:
    """All known event names, sorted."""
    return sorted(webhook_events())


def actions_of(event: str) -> tuple[str, ...]:
    """The `action` values of an event; empty for events without actions (push, create)."""
    return webhook_events().get(event, ())


def events_for_filter(key: str) -> frozenset[str] | None:
    """The events that can carry a filter key, or None when every event can."""
    return FILTER_EVENTS.get(key)
