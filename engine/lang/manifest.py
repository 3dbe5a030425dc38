"""A GitHub App manifest for a rule set (pure): the events its rules listen to and the least
permissions its triggers and node types need (`hookwise app manifest`).

Permissions come from three places: each subscribed event needs read access to what it is
about (GitHub refuses the subscription otherwise); each node type declares what it calls
(engine.declarations.permissions); and some filters read from GitHub: the changed files (`paths:`,
`files:`: pull request files, and for a push or a pull request past GitHub's 3,000-file
list the commit comparison and trees, a Contents read) and team membership (`teams:`, the
organisation's Members read). Repository rules, when on, read `.github/hookwise` (Contents)
and report on pull requests with a check run (Checks write), on push and pull_request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.declarations.registry import Registry
from engine.lang.model import Rule

WEBHOOK_PATH = "/webhooks/github"
CALLBACK_PATH = "/api/v1/public/webhooks/github/auth"
CREATED_PATH = "/setup/app-created"
LEVELS = ("read", "write", "admin")
# events every App receives without subscribing (GitHub refuses them in default_events)
ALWAYS_DELIVERED = frozenset(
    {"installation", "installation_repositories", "installation_target", "github_app_authorization",
     "ping"}
)
# event -> the permission a subscription needs (GitHub's "Webhook events and payloads");
# None: hookwise does not know it, and says so rather than guess
EVENT_PERMISSIONS: dict[str, tuple[str, str] | None] = {
    "branch_protection_configuration": ("administration", "read"),
    "branch_protection_rule": ("administration", "read"),
    "check_run": ("checks", "read"),
    "check_suite": ("checks", "read"),
    "code_scanning_alert": ("security_events", "read"),
    "commit_comment": ("contents", "read"),
    "create": ("contents", "read"),
    "custom_property": ("organization_custom_properties", "read"),
    "custom_property_values": ("organization_custom_properties", "read"),
    "delete": ("contents", "read"),
    "dependabot_alert": ("vulnerability_alerts", "read"),
    "deploy_key": ("deployments", "read"),
    "deployment": ("deployments", "read"),
    "deployment_protection_rule": ("deployments", "read"),
    "deployment_review": ("deployments", "read"),
    "deployment_status": ("deployments", "read"),
    "discussion": ("discussions", "read"),
    "discussion_comment": ("discussions", "read"),
    "fork": ("contents", "read"),
    "gollum": ("contents", "read"),
    "issue_comment": ("issues", "read"),
    "issue_dependencies": ("issues", "read"),
    "issues": ("issues", "read"),
    "label": ("metadata", "read"),
    "marketplace_purchase": None,
    "member": ("members", "read"),
    # GitHub: read access to the "Meta" app permission, which has no manifest key hookwise knows
    "meta": None,
    "membership": ("members", "read"),
    "merge_group": ("merge_queues", "read"),
    "milestone": ("issues", "read"),
    "org_block": ("organization_administration", "read"),
    "organization": ("members", "read"),
    "package": ("packages", "read"),
    "page_build": ("pages", "read"),
    "personal_access_token_request": ("organization_personal_access_token_requests", "read"),
    "project": ("repository_projects", "read"),
    "project_card": ("repository_projects", "read"),
    "project_column": ("repository_projects", "read"),
    "projects_v2": ("organization_projects", "read"),
    "projects_v2_item": ("organization_projects", "read"),
    "projects_v2_status_update": ("organization_projects", "read"),
    "public": ("metadata", "read"),
    "pull_request": ("pull_requests", "read"),
    "pull_request_review": ("pull_requests", "read"),
    "pull_request_review_comment": ("pull_requests", "read"),
    "pull_request_review_thread": ("pull_requests", "read"),
    "push": ("contents", "read"),
    "registry_package": ("packages", "read"),
    "release": ("contents", "read"),
    "repository": ("metadata", "read"),
    "repository_advisory": None,
    "repository_dispatch": ("contents", "read"),
    "repository_import": None,
    "repository_ruleset": ("administration", "read"),
    "repository_vulnerability_alert": ("vulnerability_alerts", "read"),
    "secret_scanning_alert": ("secret_scanning_alerts", "read"),
    "secret_scanning_alert_location": ("secret_scanning_alerts", "read"),
    "secret_scanning_scan": ("secret_scanning_alerts", "read"),
    "security_advisory": None,
    "security_and_analysis": ("administration", "read"),
    "sponsorship": None,
    "star": ("metadata", "read"),
    "status": ("statuses", "read"),
    "sub_issues": ("issues", "read"),
    "team": ("members", "read"),
    "team_add": ("members", "read"),
    "watch": ("metadata", "read"),
    "workflow_dispatch": ("contents", "read"),
    "workflow_job": ("actions", "read"),
    "workflow_run": ("actions", "read"),
}
REPOSITORY_RULES_NEEDS = (("contents", "read"), ("checks", "write"))
REPOSITORY_RULES_EVENTS = ("push", "pull_request")


@dataclass
class ManifestPlan:
    """What a rule set asks of its App, with why (for people) and what could not be known."""

    events: set[str] = field(default_factory=set)
    permissions: dict[str, str] = field(default_factory=lambda: {"metadata": "read"})
    why: dict[str, list[str]] = field(default_factory=dict)  # "issues: write" -> reasons
    warnings: list[str] = field(default_factory=list)

    def need(self, name: str, level: str, reason: str) -> None:
        """Ask for `level` of `name` (keeping the higher level already asked for)."""
        held = self.permissions.get(name)
        if held is None or LEVELS.index(level) > LEVELS.index(held):
            self.permissions[name] = level
        self.why.setdefault(f"{name}: {level}", []).append(reason)


def plan(rules: Iterable[Rule], registry: Registry, *, repository_rules: bool = False) -> ManifestPlan:
    """The events and least permissions of a rule set."""
    found = ManifestPlan()
    for rule in rules:
        if rule.disabled:
            continue
        if rule.events is None:
            found.warnings.append(
                f"rule {rule.name!r} listens to every event; subscribe the App to the ones it needs"
            )
        for trigger in rule.triggers:
            if trigger.event is not None and trigger.event not in ALWAYS_DELIVERED:
                _subscribe(found, trigger.event, f"rule {rule.name}")
            if trigger.needs_files:
                found.need("contents", "read", f"rule {rule.name}: the changed files")
            if any(p is not None and p.teams for p in (trigger.authors, trigger.actors)):
                found.need("members", "read", f"rule {rule.name}: team membership")
        for node in rule.nodes.values():
            node_type = registry.get(node.uses)
            if node_type is None:
                continue
            for name, level in node_type.permissions:
                found.need(name, level, f"rule {rule.name}: node {node.id} ({node.uses})")
    if repository_rules:
        for event in REPOSITORY_RULES_EVENTS:
            _subscribe(found, event, "repository rules")
        for name, level in REPOSITORY_RULES_NEEDS:
            found.need(name, level, "repository rules (.github/hookwise, the hookwise / rules check)")
    return found


def _subscribe(found: ManifestPlan, event: str, reason: str) -> None:
    found.events.add(event)
    permission = EVENT_PERMISSIONS.get(event)
    if permission is None:
        warning = f"no permission is known for the {event} event; grant it in the App's settings"
        if warning not in found.warnings:
            found.warnings.append(warning)
        return
    found.need(permission[0], permission[1], f"{reason}: the {event} event")


def manifest(
    found: ManifestPlan, url: str, *, name: str = "hookwise", public: bool = False
) -> dict[str, Any]:
    """The manifest GitHub's App manifest flow takes (URLs under `url`)."""
    base = url.rstrip("/")
    return {
        "name": name,
        "url": base,
        "description": "Declarative workflow rules for GitHub (hookwise)",
        "hook_attributes": {"url": base + WEBHOOK_PATH, "active": True},
        "redirect_url": base + CREATED_PATH,
        # the OAuth code at installation is the proof that binds an installation to a user
        "callback_urls": [base + CALLBACK_PATH],
        "setup_url": base + CALLBACK_PATH,
        "setup_on_update": True,
        "request_oauth_on_install": True,
        "public": public,
        "default_events": sorted(found.events),
        "default_permissions": dict(sorted(found.permissions.items())),
    }
