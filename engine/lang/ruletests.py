"""Rule test files (`*.test.yaml` beside the rules): read into cases, every problem collected
as a diagnostic with its line and column (the same checks as rule files: unknown-key,
missing-key, bad-type, bad-value). Pure: text in, cases and diagnostics out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.lang.diagnostics import Diagnostic
from engine.lang.source import Document, Position, load_document

TEST_SUFFIXES = (".test.yaml", ".test.yml")
FILE_KEYS = ("rules", "cases")
CASE_KEYS = (
    "name", "event", "payload", "set", "at", "changed-files", "teams", "answers", "expect"
)
EXPECT_KEYS = ("matched", "not-matched", "nodes", "writes")
NODE_STATUSES = ("success", "failure", "skipped", "cancelled")

Path = tuple[str | int, ...]


@dataclass
class Expectation:
    """One thing a case expects, with where it is written (a failure points there)."""

    kind: str  # matched, not-matched, node, writes
    value: Any
    line: int
    key: str = ""  # the rule (not-matched) or node (node) it is about
    item_lines: list[int] = field(default_factory=list)  # writes: where each one is written


@dataclass
class Case:
    """One case: a delivery, the facts and canned answers around it, and what to expect."""

    name: str
    line: int
    event: str
    payload: Any  # {"file": str} | {"example": str} | {"data": dict}
    overrides: dict[str, Any] = field(default_factory=dict)
    at: float | None = None  # the decision time (within(), ago()); None: the case gives none
    changed_files: tuple[str, ...] | None = None
    teams: dict[str, set[str]] = field(default_factory=dict)
    answers: list[Any] = field(default_factory=list)
    answers_line: int = 0
    expectations: list[Expectation] = field(default_factory=list)


@dataclass
class TestFile:
    """A parsed test file: its rules (None: every rule file in its folder) and cases."""

    path: str
    rules: list[str] | None
    cases: list[Case]
    diagnostics: list[Diagnostic]
    document: Document


def is_test_file(name: str) -> bool:
    """Whether a file name is a rule test's (rule discovery skips these)."""
    return name.endswith(TEST_SUFFIXES)


class _Reader:
    def __init__(self, document: Document) -> None:
        self.doc = document
        self.problems: list[Diagnostic] = []

    def at(self, path: Path, *, key: bool = False) -> Position:
        where = self.doc.source_map.key(path) if key else self.doc.source_map.value(path)
        return where

    def problem(self, path: Path, check: str, message: str, *, key: bool = False) -> None:
        where = self.at(path, key=key)
        self.problems.append(Diagnostic(self.doc.path, where.line, where.column, check, message))

    def keys(self, data: dict[str, Any], path: Path, allowed: tuple[str, ...], what: str) -> None:
        for name in data:
            if name not in allowed:
                self.problem(
                    (*path, name), "unknown-key",
                    f"unknown key {name!r} in {what}; expected one of: {', '.join(allowed)}",
                    key=True,
                )

    def mapping(self, value: Any, path: Path, what: str) -> dict[str, Any] | None:
        if isinstance(value, dict):
            return value
        self.problem(path, "bad-type", f"{what} must be a mapping, found {_kind(value)}")
        return None

    def strings(self, value: Any, path: Path, what: str) -> list[str] | None:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        self.problem(path, "bad-type", f"{what} must be a list of strings, found {_kind(value)}")
        return None


def parse_test_file(text: str, path: str) -> TestFile:
    """Read one test file; problems (with line:col) are in `diagnostics`."""
    document = load_document(text, path)
    reader = _Reader(document)
    result = TestFile(path, None, [], list(document.diagnostics), document)
    data = document.data
    if data is None:
        return result
    reader.keys(data, (), FILE_KEYS, "a rule test file")
    if "rules" in data:
        result.rules = reader.strings(data["rules"], ("rules",), "rules")
    cases = data.get("cases")
    if not isinstance(cases, list) or not cases:
        reader.problem(
            ("cases",) if "cases" in data else (), "missing-key" if cases is None else "bad-type",
            "a rule test file needs `cases:`, a list of cases (name, event, payload, expect)",
        )
        cases = []
    names: set[str] = set()
    for index, item in enumerate(cases):
        case = _case(reader, item, ("cases", index))
        if case is None:
            continue
        if case.name in names:
            reader.problem(("cases", index, "name"), "bad-value", f"two cases are named {case.name!r}")
        names.add(case.name)
        result.cases.append(case)
    result.diagnostics.extend(reader.problems)
    return result


def _case(reader: _Reader, item: Any, path: Path) -> Case | None:
    data = reader.mapping(item, path, "a case")
    if data is None:
        return None
    reader.keys(data, path, CASE_KEYS, "a case")
    missing = [k for k in ("name", "event", "payload", "expect") if k not in data]
    for key in missing:
        reader.problem(path, "missing-key", f"a case needs `{key}:`")
    if missing:
        return None
    name, event = data["name"], data["event"]
    for key, value in (("name", name), ("event", event)):
        if not isinstance(value, str) or not value:
            reader.problem((*path, key), "bad-type", f"`{key}` must be a string")
            return None
    case = Case(name, reader.at(path).line, event, _payload(reader, data["payload"], (*path, "payload")))
    if "set" in data:
        overrides = reader.mapping(data["set"], (*path, "set"), "`set` (payload fields to change)")
        case.overrides = overrides or {}
    if "at" in data:
        case.at = _moment(reader, data["at"], (*path, "at"))
    if "changed-files" in data:
        files = reader.strings(data["changed-files"], (*path, "changed-files"), "`changed-files`")
        case.changed_files = tuple(files or ())
    if "teams" in data:
        teams = reader.mapping(data["teams"], (*path, "teams"), "`teams` (org/team: [logins])")
        for team, logins in (teams or {}).items():
            members = reader.strings(logins, (*path, "teams", team), f"the members of {team}")
            case.teams[str(team).lower()] = {m.lower() for m in members or ()}
    if "answers" in data:
        case.answers_line = reader.at((*path, "answers")).line
        if isinstance(data["answers"], list):
            case.answers = data["answers"]
        else:
            reader.problem((*path, "answers"), "bad-type", "`answers` must be a list")
    case.expectations = _expectations(reader, data["expect"], (*path, "expect"))
    return case


def _moment(reader: _Reader, value: Any, path: Path) -> float | None:
    """`at:` as seconds since the epoch: an ISO 8601 time (UTC without an offset)."""
    text = value.isoformat() if isinstance(value, datetime) else value
    if isinstance(text, str):
        try:
            moment = datetime.fromisoformat(text)
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
        except ValueError:
            pass
    reader.problem(path, "bad-value", f"`at` must be an ISO 8601 time such as 2026-12-04T16:30+01:00; found {value!r}")
    return None


def _payload(reader: _Reader, value: Any, path: Path) -> Any:
    if isinstance(value, str):
        return {"file": value}
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ("example", "file"):
        return value
    if isinstance(value, dict) and set(value) == {"data"} and isinstance(value["data"], dict):
        return value
    reader.problem(
        path, "bad-value",
        "`payload` is a JSON file (relative to the test file), {example: pull_request/opened.1} "
        "(one of GitHub's own examples), or {data: {...}}",
    )
    return {"data": {}}


def _expectations(reader: _Reader, value: Any, path: Path) -> list[Expectation]:
    data = reader.mapping(value, path, "`expect`")
    if data is None:
        return []
    reader.keys(data, path, EXPECT_KEYS, "`expect`")
    found: list[Expectation] = []
    if "matched" in data:
        rules = reader.strings(data["matched"], (*path, "matched"), "`matched` (rule names)")
        if rules is not None:
            found.append(Expectation("matched", sorted(rules), reader.at((*path, "matched")).line))
    if "not-matched" in data:
        reasons = reader.mapping(data["not-matched"], (*path, "not-matched"), "`not-matched`")
        for rule, words in (reasons or {}).items():
            where = (*path, "not-matched", rule)
            if words is not None and not isinstance(words, str):
                reader.problem(where, "bad-type", "words the reason contains must be a string")
                continue
            found.append(Expectation("not-matched", words or "", reader.at(where).line, str(rule)))
    if "nodes" in data:
        nodes = reader.mapping(data["nodes"], (*path, "nodes"), "`nodes`")
        for node, expected in (nodes or {}).items():
            where = (*path, "nodes", node)
            spec = {"status": expected} if isinstance(expected, str) else expected
            if not isinstance(spec, dict) or set(spec) - {"status", "outputs", "error"}:
                reader.problem(
                    where, "bad-value",
                    "a node expects a status, or {status, outputs, error}",
                )
                continue
            if "status" in spec and spec["status"] not in NODE_STATUSES:
                reader.problem(
                    where, "bad-value",
                    f"status {spec['status']!r} is not one of {', '.join(NODE_STATUSES)}",
                )
                continue
            found.append(Expectation("node", spec, reader.at(where).line, str(node)))
    if "writes" in data:
        writes = data["writes"]
        where = (*path, "writes")
        if not isinstance(writes, list) or not all(
            isinstance(w, dict) and isinstance(w.get("request"), str) for w in writes
        ):
            reader.problem(where, "bad-type", "`writes` is a list of {request: 'POST /path', body}")
        else:
            lines = [reader.at((*where, i)).line for i in range(len(writes))]
            found.append(Expectation("writes", writes, reader.at(where, key=True).line, item_lines=lines))
    return found


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"
