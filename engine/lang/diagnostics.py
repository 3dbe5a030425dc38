"""The one diagnostic shape, the stable check ids, and the error hierarchy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.errors import InputError

# Check ids are a public contract: users silence them with `# hookwise: ignore=ID`
# and CI systems key on them. Add new ids; never rename one.
CHECKS: dict[str, str] = {
    "file-encoding": "the file is binary or not UTF-8",
    "empty-file": "the file holds no rule",
    "yaml-syntax": "the file is not valid YAML",
    "yaml-tag": "a YAML tag that would build an object, or one hookwise does not read",
    "duplicate-key": "a mapping key appears twice",
    "not-a-mapping": "the document is not a mapping of keys to values",
    "unknown-key": "a key the rule language does not have",
    "missing-key": "a required key is absent",
    "bad-type": "a value of the wrong type",
    "bad-value": "a value outside the allowed set or form",
    "duplicate-rule-name": "two rule files share one name",
    "unknown-event": "an event name GitHub does not send",
    "event-spelling": "an event name spelled with hyphens where GitHub sends underscores (a warning)",
    "unknown-activity-type": "a `types` value the event does not have",
    "filter-not-allowed": "a filter on an event that cannot carry it",
    "conflicting-filters": "a filter used together with its -ignore twin",
    "bad-pattern": "a filter or name pattern that cannot be compiled",
    "payload-property": (
        "an `event.*` read that GitHub's webhook descriptions do not give the rule's events (a warning)"
    ),
    "rule-test": "a rule test (*.test.yaml) that cannot run, or, in the repository rules check, fails",
    "team-slug": "a `team_reviewers` entry written org/slug, where GitHub takes the slug (a warning)",
    "regex-pattern": "a filter pattern that reads as a regular expression, with the glob probably meant (a warning)",
    "negation-only": "a pattern list of only `!` patterns, which selects nothing",
    "unknown-needs": "`needs` names a node that does not exist",
    "graph-cycle": "the nodes' `needs` form a cycle",
    "unknown-node-type": "`uses` names a node type that is not registered",
    "node-input": "a node's `with` does not fit its node type's inputs",
    "bad-expression": "a `${{ }}` expression that does not parse",
    "unknown-function": "an expression calls a function that does not exist",
    "unknown-context": "an expression reads a context or property that does not exist",
    "unknown-node": "an expression reads a node that does not exist",
    "not-upstream": "an expression reads a node that does not run before this one",
    "unknown-output": "an expression reads an output the node type does not declare",
    "bad-duration": "a duration that does not parse",
    "bad-cron": "a `schedule:` cron that is not GitHub Actions' five-field cron",
    "bad-timezone": "a `schedule:` time zone that is not an IANA zone name",
    "cron-frequency": "a `schedule:` that fires more often than every 5 minutes (a warning)",
    "bad-regex": "a literal `matches()` pattern that RE2 cannot compile",
    "bad-command": "an `on: command` whose arguments cannot be filled from words, or with `events:`",
    "duplicate-command": "two rules of a rule set answer the same slash command",
    "bad-window": "a literal `within()` window or time zone, or `ago()` span, that cannot be read",
    "bad-team": "a `teams:` entry that is not written org/team-slug",
    "repository-limit": "a repository rule file beyond a limit: files, bytes, expression or pattern size",
    "unknown-ignore": "an ignore comment names a check that does not exist (a warning)",
}


# checks that warn (validation passes), whichever code reports them
WARNING_CHECKS = frozenset({"payload-property", "team-slug", "cron-frequency"})


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem found in one file, at a 1-based line and column."""

    path: str
    line: int
    column: int
    check: str
    message: str
    severity: str = "error"

    def __post_init__(self) -> None:
        if self.check not in CHECKS:
            raise ValueError(f"unknown check id {self.check!r}")

    def to_json(self) -> dict[str, Any]:
        """The `validate --format json` problem: file, line, column, severity, check, message."""
        return {
            "file": self.path,
            "line": self.line,
            "column": self.column,
            "severity": self.severity,
            "check": self.check,
            "message": self.message,
        }


def sort_diagnostics(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Order problems by file, line, column, then check id, dropping exact repeats."""
    return sorted(set(diagnostics), key=lambda d: (d.path, d.line, d.column, d.check, d.message))


class RuleLoadError(InputError):
    """Rules could not be loaded because they have problems."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        count = len(diagnostics)
        lines = [
            f"{d.path}:{d.line}:{d.column}: {d.severity} [{d.check}] {d.message}"
            for d in diagnostics
        ]
        noun = "problem" if count == 1 else "problems"
        super().__init__(
            f"the rules have {count} {noun} (as `hookwise validate` reports them):\n  "
            + "\n  ".join(lines)
        )
