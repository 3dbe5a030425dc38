"""Frozen dataclasses for compiled rules: Rule, EventTrigger, Node and their parts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry

from engine.expr.parse import split_template
from engine.expr.tree import Expr, Segment
from engine.lang.patterns import PatternList

_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in a duration such as `500ms`, `30s`, `5m`, `1h` or `1m30s`."""
    if not re.fullmatch(r"(?:[0-9]+(?:ms|s|m|h))+", text):
        raise ValueError(f"not a duration: {text!r}")
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))


@dataclass(frozen=True)
class Template:
    """A string that holds `${{ }}` expressions, parsed once."""

    source: str
    segments: tuple[Segment, ...]

    @classmethod
    def from_text(cls, text: str) -> Template:
        """Parse a template (raises ExpressionError)."""
        return cls(text, tuple(split_template(text)))


@dataclass(frozen=True)
class LabelFilter:
    """`labels:` — any / all / none over the subject's labels; added over the event's label."""

    any: PatternList | None = None
    all: PatternList | None = None
    none: PatternList | None = None
    added: PatternList | None = None


@dataclass(frozen=True)
class PeopleFilter:
    """`authors:` or `actors:` — include / exclude login patterns, and team membership.

    A login passes when no `exclude` pattern selects it and, if `include` or `teams` is
    given, an `include` pattern selects it or it belongs to one of `teams` (org/slug)."""

    include: PatternList | None = None
    exclude: PatternList | None = None
    teams: tuple[str, ...] | None = None


@dataclass(frozen=True)
class FilesFilter:
    """`files:` — any / all / none of the changed files matched by filter patterns."""

    any: PatternList | None = None
    all: PatternList | None = None
    none: PatternList | None = None


@dataclass(frozen=True)
class EventTrigger:
    """The compiled filters for one event (or for every event when `event` is None)."""

    event: str | None
    types: frozenset[str] | None = None  # None: every action
    repository: PatternList | None = None
    branches: PatternList | None = None
    branches_ignore: PatternList | None = None
    tags: PatternList | None = None
    tags_ignore: PatternList | None = None
    paths: PatternList | None = None
    paths_ignore: PatternList | None = None
    labels: LabelFilter | None = None
    authors: PeopleFilter | None = None
    actors: PeopleFilter | None = None
    ignore_bots: bool = True
    bots_allowed: PatternList | None = None  # ignore-bots: {except: [...]}
    files: FilesFilter | None = None

    @property
    def has_path_filter(self) -> bool:
        """Whether `paths` or `paths-ignore` is set."""
        return self.paths is not None or self.paths_ignore is not None

    @property
    def needs_files(self) -> bool:
        """Whether this trigger reads the changed files (`paths*` or `files`), which may cost
        a call."""
        return self.has_path_filter or self.files is not None

    @cached_property
    def decided_by(self) -> tuple[str, ...]:
        """The filters that decide this trigger, in the order they are tried (cheapest first,
        the changed files last): only those it declares, plus the defaults that always apply
        (activity types; ignore-bots unless switched off). Computed once per trigger."""
        refs = (self.branches, self.branches_ignore, self.tags, self.tags_ignore)
        present = {
            "repository": self.repository is not None,
            "types": True,
            "refs": any(r is not None for r in refs),
            "labels": self.labels is not None,
            "authors": self.authors is not None,
            "actors": self.actors is not None,
            "ignore-bots": self.ignore_bots,
            "paths": self.has_path_filter,
            "files": self.files is not None,
        }
        return tuple(key for key, on in present.items() if on)


@dataclass(frozen=True)
class Retry:
    """Per-node retry policy."""

    attempts: int = 1
    delay: float = 1.0
    backoff: float = 2.0


@dataclass(frozen=True)
class Node:
    """One node of a rule's graph."""

    id: str
    uses: str
    with_: Any = field(default_factory=dict)  # inputs; strings with ${{ }} are Templates
    needs: tuple[str, ...] = ()
    upstream: frozenset[str] = frozenset()  # every node it needs, directly or not
    condition: Expr | None = None  # None: ${{ success() }}
    condition_source: str = "success()"
    retry: Retry = Retry()
    timeout: float | None = None
    continue_on_error: bool | Template | str = False
    for_each: Template | None = None  # run once per item of this list
    max_items: int = 100


@dataclass(frozen=True)
class Concurrency:
    """`concurrency:` — one running run per group."""

    group: Template | str
    cancel_in_progress: bool | Template | str = False


@dataclass(frozen=True)
class RuleSource:
    """Where a rule came from: the server's rules path, a repository's `.github/hookwise/`
    at a commit, or the organisation defaults in `<owner>/.github` at a commit."""

    kind: str = "server"  # "server", "repository" or "defaults"
    repository: str | None = None  # owner/name of the repository the files were read from
    commit: str | None = None

    def describe(self) -> str:
        """`server`, `repository octo-org/hello at 1a2b3c4`, `organisation defaults ...`."""
        if self.kind == "server":
            return "server"
        what = "repository" if self.kind == "repository" else "organisation defaults"
        return f"{what} {self.repository} at {(self.commit or '')[:7]}"

    @property
    def key(self) -> str:
        """A stable id of this version of the rules: `repository:octo/hello@<sha>`."""
        return "server" if self.kind == "server" else f"{self.kind}:{self.repository}@{self.commit}"


SERVER = RuleSource()


@dataclass(frozen=True)
class Scope:
    """Where a repository rule may act: one repository, or (organisation defaults) every
    repository of one owner. Enforced by the executor, not trusted."""

    owner: str
    repository: str | None = None  # owner/name; None: any repository of the owner

    def allows(self, owner: str, repo: str) -> bool:
        """Whether a node may read or write owner/repo."""
        if owner.lower() != self.owner.lower():
            return False
        return self.repository is None or f"{owner}/{repo}".lower() == self.repository.lower()

    def describe(self) -> str:
        """`octo-org/hello`, or `the repositories of octo-org`."""
        return self.repository or f"the repositories of {self.owner}"


PERMISSIONS = ("read", "triage", "write", "maintain", "admin")  # GitHub's repository roles, rising
WHERE = ("issues", "pull_requests")
# the events a command is read from, with the actions that carry a new or edited text
COMMAND_EVENTS = {
    "issue_comment": ("created", "edited"),
    "pull_request_review_comment": ("created", "edited"),
    "pull_request_review": ("submitted", "edited"),
}


@dataclass(frozen=True)
class CommandSpec:
    """A rule's `on: command`: the name, the arguments in order, who may use it, and where."""

    name: str
    args: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    permission: str = "write"
    where: tuple[str, ...] = WHERE
    description: str = ""

    def usage(self) -> str:
        """`/label <labels>...`: the arguments in the order they are given."""
        parts = [f"/{self.name}"]
        for name, schema in self.args:
            shown = f"<{name}>..." if schema.get("type") == "array" else f"<{name}>"
            parts.append(f"[{shown}]" if "default" in schema or _optional_array(schema) else shown)
        return " ".join(parts)


# an argument's schema is checked with no way to fetch anything: a `$ref` to a file or a URL
# is unresolvable (validate refuses them too), so no comment can make hookwise read one
_NO_RETRIEVAL: Registry[Any] = Registry()


def schema_problem(schema: Mapping[str, Any], value: Any) -> str | None:
    """Why the value does not fit the argument's schema (None when it does); never raises."""
    try:
        validator = Draft202012Validator(dict(schema), registry=_NO_RETRIEVAL)
        error = next(iter(validator.iter_errors(value)), None)
    except Exception as exc:  # an unresolvable $ref, a schema validate would refuse
        return f"the argument's schema cannot be used ({type(exc).__name__})"
    if error is None:
        return None
    text = error.message  # it quotes the value: a long one is cut in its middle
    return text if len(text) <= 300 else f"{text[:150]}…{text[-100:]}"


def _optional_array(schema: Mapping[str, Any]) -> bool:
    return schema.get("type") == "array" and not schema.get("minItems")


@dataclass(frozen=True)
class Schedule:
    """One `on: schedule` entry: when it ticks, and whether a tick runs once per repository the
    rule selects or once per installation."""

    cron: str
    timezone: str = "UTC"
    per: str = "repository"  # or "installation"
    repository: PatternList | None = None  # `on.repository`: the repositories it runs for


@dataclass(frozen=True)
class Rule:
    """A compiled rule: where it came from, when it runs and what it runs."""

    name: str
    file: str
    description: str
    triggers: tuple[EventTrigger, ...]
    nodes: dict[str, Node]
    order: tuple[str, ...]  # a topological order of the node ids
    vars: dict[str, Any] = field(default_factory=dict)
    concurrency: Concurrency | None = None
    timeout: float | None = None
    condition: Expr | None = None  # the top-level `if:`, decided at match time
    condition_source: str | None = None  # the `if:` as written, for reasons
    disabled: bool = False  # `disabled: true`: never runs (and switches off a default)
    source: RuleSource = SERVER
    scope: Scope | None = None  # repository rules: where they may act
    schedules: tuple[Schedule, ...] = ()  # `on: schedule`: ticks that run the rule
    operations_per_run: int | None = None  # GitHub requests a run may make (None: no limit)
    command: CommandSpec | None = None  # `on: command`: a slash command in comments

    @property
    def events(self) -> frozenset[str] | None:
        """The events this rule listens to, or None for every event."""
        names = {t.event for t in self.triggers}
        return None if None in names else frozenset(n for n in names if n is not None)
