"""Running one rule test case: its payload (a file, one of GitHub's examples, or inline, with
fields set), decided by the one decision path with the case's facts, the matched rules
executed in dry-run against canned GitHub answers, and each expectation compared. Writes are
planned, never sent; a read with no canned answer fails its node, naming the request."""

from __future__ import annotations

import difflib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.declarations.registry import Registry
from engine.errors import InputError
from engine.github.canned import CannedGitHub, parse_answers
from engine.github.facts import GitHubFacts
from engine.lang.model import Rule
from engine.lang.ruletests import Case, Expectation
from engine.match.events import parse_event
from engine.match.index import RuleIndex
from engine.match.matcher import decide_delivery
from engine.match.payload import PayloadError
from engine.run.executor import ExecutionOptions, execute
from engine.run.given_facts import UNDECIDED_HERE, GivenFacts
from engine.run.record import RunRecord
from engine.run.recorded_github import WRITE_METHODS

# GitHub's webhook examples (vendor/shared/fixtures: @octokit/webhooks-examples), in a checkout
EXAMPLES = Path(__file__).resolve().parents[2] / "vendor" / "shared" / "fixtures" / "github" / "webhooks"


@dataclass
class Failure:
    """An expectation that did not hold: where it is written, what differed."""

    line: int
    message: str
    diff: str = ""


@dataclass
class CaseResult:
    """How one case went: no failures and no error is a pass."""

    case: Case
    failures: list[Failure] = field(default_factory=list)
    error: str | None = None  # the case could not run (its payload, its answers)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """Whether every expectation held."""
        return self.error is None and not self.failures


def load_payload(spec: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The case's payload: a JSON file beside the test, one of GitHub's examples, or inline."""
    if "data" in spec:
        copied: dict[str, Any] = json.loads(json.dumps(spec["data"]))  # the overrides change it
        return copied
    if "example" in spec:
        name = str(spec["example"])
        path = EXAMPLES / f"{name}.json"
        if not path.is_file():
            known = sorted(p.stem for p in (EXAMPLES / name.split("/")[0]).glob("*.json"))
            hint = f"; {name.split('/')[0]} has: {', '.join(known)}" if known else ""
            raise InputError(f"no GitHub example payload {name!r}{hint}")
    else:
        path = folder / str(spec["file"])
    try:
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise InputError(f"cannot read payload {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"payload {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(f"payload {path} must be a JSON object")
    return data


def set_fields(payload: dict[str, Any], overrides: dict[str, Any]) -> None:
    """Set dotted fields (`pull_request.user.login`, `commits.0.message`) in place."""
    for dotted, value in overrides.items():
        target: Any = payload
        parts = str(dotted).split(".")
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if isinstance(target, list):
                if not part.isdigit() or int(part) >= len(target):
                    raise InputError(f"set {dotted}: {part!r} is not an index of the list there")
                if last:
                    target[int(part)] = value
                else:
                    target = target[int(part)]
            elif isinstance(target, dict):
                if last:
                    target[part] = value
                else:
                    target = target.setdefault(part, {})
            else:
                raise InputError(f"set {dotted}: {'.'.join(parts[:index])} is not an object")


async def run_case(case: Case, folder: Path, rules: list[Rule], registry: Registry) -> CaseResult:
    """Decide and execute one case, then compare every expectation."""
    started = time.perf_counter()
    result = CaseResult(case)
    try:
        payload = load_payload(case.payload, folder)
        set_fields(payload, case.overrides)
        event = parse_event(case.event, payload, delivery=f"test:{case.name}")
        canned = CannedGitHub(parse_answers(case.answers, f"line {case.answers_line}: answers"))
    except (InputError, PayloadError) as exc:
        result.error = str(exc)
        return result
    shared: dict[str, Any] = {}
    facts = GivenFacts(
        case.changed_files, case.teams,
        GitHubFacts(canned, event.installation_id or 1, shared=shared),
    )
    decision = await decide_delivery(event, RuleIndex(rules), facts)
    options = ExecutionOptions(
        github=canned, dry_run=True, changed_files=case.changed_files, shared=shared
    )
    runs = [await execute(m.rule, decision.event, registry, options) for m in decision.matched]
    matched = sorted(m.rule.name for m in decision.matched)
    reasons = {r.rule.name: r.reason for r in decision.not_matched()}
    reasons.update(
        {r.rule.name: r.reason for r in decision.undecided(decision.unknown or UNDECIDED_HERE)}
    )
    for expectation in case.expectations:
        failure = _compare(expectation, matched, reasons, runs)
        if failure is not None:
            result.failures.append(failure)
    result.seconds = time.perf_counter() - started
    return result


def _compare(
    expected: Expectation, matched: list[str], reasons: dict[str, str], runs: list[RunRecord]
) -> Failure | None:
    if expected.kind == "matched":
        if expected.value == matched:
            return None
        why = "; ".join(f"{r}: {reasons[r]}" for r in expected.value if r in reasons)
        return Failure(
            expected.line,
            f"expected matched {expected.value}, got {matched}" + (f" ({why})" if why else ""),
            _diff(expected.value, matched),
        )
    if expected.kind == "not-matched":
        if expected.key in matched:
            return Failure(expected.line, f"expected {expected.key} not to match; it matched")
        reason = reasons.get(expected.key)
        if reason is None:
            return Failure(expected.line, f"no rule named {expected.key} was decided here")
        if expected.value and expected.value not in reason:
            return Failure(
                expected.line,
                f"the reason {expected.key} did not match does not say {expected.value!r}",
                _diff(expected.value, reason),
            )
        return None
    if expected.kind == "node":
        return _compare_node(expected, runs)
    return _compare_writes(expected, runs)


def _compare_node(expected: Expectation, runs: list[RunRecord]) -> Failure | None:
    rule, _, node_id = expected.key.rpartition(":")
    found = [n for r in runs if not rule or r.rule == rule for n in r.nodes if n.id == node_id]
    if len(found) != 1:
        ran = sorted({f"{r.rule}:{n.id}" for r in runs for n in r.nodes})
        what = "no node" if not found else "more than one node (write rule:node)"
        return Failure(expected.line, f"{what} {expected.key!r} ran; nodes: {', '.join(ran) or 'none'}")
    node = found[0]
    spec = expected.value
    actual = {"status": node.status, "outputs": node.outputs, "error": node.error or node.reason}
    if "status" in spec and spec["status"] != node.status:
        why = f" ({actual['error']})" if actual["error"] else ""
        return Failure(
            expected.line,
            f"node {expected.key}: expected status {spec['status']}, got {node.status}{why}",
        )
    if "outputs" in spec and not contains(node.outputs, spec["outputs"]):
        return Failure(
            expected.line,
            f"node {expected.key}: outputs differ",
            _diff(spec["outputs"], node.outputs),
        )
    if "error" in spec and str(spec["error"]) not in str(actual["error"] or ""):
        return Failure(
            expected.line,
            f"node {expected.key}: its error does not say {spec['error']!r}",
            _diff(spec["error"], actual["error"]),
        )
    return None


def _compare_writes(expected: Expectation, runs: list[RunRecord]) -> Failure | None:
    planned = [
        {"request": f"{c.method} {c.path}", "body": c.body}
        for r in runs
        for c in r.calls
        if c.method in WRITE_METHODS
    ]
    wanted = [{"request": w["request"], "body": w.get("body")} for w in expected.value]
    for index, want in enumerate(wanted):
        got = planned[index] if index < len(planned) else None
        if got is None or want["request"] != got["request"] or not (
            want["body"] is None or contains(got["body"], want["body"])
        ):
            what = f"planned write {index + 1}" if got else f"no planned write {index + 1}"
            return Failure(
                expected.item_lines[index],
                f"{what} differs from the one expected ({len(planned)} planned)",
                _diff(expected.value, _like(planned, wanted)),
            )
    if len(planned) == len(wanted):
        return None
    return Failure(
        expected.line,
        f"expected {len(wanted)} planned write(s), got {len(planned)}",
        _diff(expected.value, _like(planned, wanted)),
    )


def _like(planned: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The planned writes shown as the expected ones are written: a body only where one is
    expected, and then only its expected keys (a diff of what was asked, not all of GitHub's)."""
    shown = []
    for index, got in enumerate(planned):
        want = wanted[index] if index < len(wanted) else None
        if want is not None and want["body"] is None:
            shown.append({"request": got["request"]})
        elif want is not None:
            shown.append({"request": got["request"], "body": _project(got["body"], want["body"])})
        else:
            shown.append(got)
    return shown


def _project(actual: Any, expected: Any) -> Any:
    if isinstance(expected, dict) and isinstance(actual, dict):
        return {k: _project(actual[k], v) for k, v in expected.items() if k in actual}
    return actual


def contains(actual: Any, expected: Any) -> bool:
    """Whether `expected` is a subset of `actual`: mappings by key, lists item by item."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and contains(actual[k], v) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(contains(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return bool(actual == expected)


def _diff(expected: Any, actual: Any) -> str:
    def lines(value: Any) -> list[str]:
        text = value if isinstance(value, str) else json.dumps(value, indent=2, sort_keys=True)
        return text.splitlines()

    return "\n".join(
        difflib.unified_diff(lines(expected), lines(actual), "expected", "actual", lineterm="")
    )
