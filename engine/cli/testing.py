"""`hookwise test [PATH...]`: run the rule tests (`*.test.yaml`) kept beside the rules.

One line per case, then a summary; exit 1 when a case fails (each failure at the file:line of
its expectation, with a diff) or a test file has problems. `--format json` writes the stable
document docs/rules.md describes; `--format junit` writes JUnit XML for CI systems."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from xml.etree import ElementTree

from engine.errors import UsageError
from engine.lang.diagnostics import RuleLoadError
from engine.lang.files import find_rule_files, find_test_files, load_rules
from engine.lang.report import REPORTERS
from engine.lang.ruletests import TestFile, parse_test_file
from engine.nodes import default_registry
from engine.run.ruletest import CaseResult, run_case

EXIT_OK = 0
EXIT_FAILED = 1


@dataclass
class FileOutcome:
    """A test file's cases, or why none ran (its own problems, or its rules')."""

    test: TestFile
    results: list[CaseResult] = field(default_factory=list)
    error: str | None = None


def add_parser(sub: Any) -> None:
    """The `test` subcommand."""
    test = sub.add_parser("test", help="run the rule tests (*.test.yaml) beside the rules")
    test.description = (
        "Run the rule tests (*.test.yaml) found under the paths: each case delivers a payload to "
        "the rules beside it, offline, with canned GitHub answers, and checks what it expects."
    )
    test.add_argument("paths", nargs="*", metavar="PATH", help="test files or folders (default rules/)")
    test.add_argument("--format", choices=["text", "json", "junit"], default="text")


def test(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    """Run every case of every test file under the paths."""
    paths = args.paths or [_default_path()]
    files = find_test_files(paths)
    if not files:
        stderr.write(
            f"hookwise: no rule tests (*.test.yaml) under {', '.join(paths)}: nothing to run\n"
        )
        return EXIT_FAILED
    outcomes = [_run_file(path, stderr) for path in files]
    write = {"text": _text, "json": _json, "junit": _junit}[args.format]
    stdout.write(write(outcomes))
    failed = any(o.error or not all(r.passed for r in o.results) for o in outcomes)
    return EXIT_FAILED if failed else EXIT_OK


def _default_path() -> str:
    if not os.path.isdir("rules") and os.path.isdir(".github/hookwise"):
        return ".github/hookwise"
    return "rules/"


def _run_file(path: str, stderr: IO[str]) -> FileOutcome:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    parsed = parse_test_file(text, path)
    outcome = FileOutcome(parsed)
    errors = [d for d in parsed.diagnostics if d.severity == "error"]
    if errors:
        stderr.write(REPORTERS["text"](1, errors, {path: parsed.document.lines}))
        outcome.error = f"{len(errors)} problem(s) in the test file"
        return outcome
    folder = Path(path).parent
    rule_paths = [str(folder / r) for r in parsed.rules] if parsed.rules is not None else [
        p for p in find_rule_files([str(folder)]) if Path(p).parent == folder
    ]
    try:
        ruleset = load_rules(rule_paths, default_registry(implementations=False))
    except RuleLoadError as exc:
        stderr.write(REPORTERS["text"](len(rule_paths), exc.diagnostics, {}))
        outcome.error = "its rules have problems; run `hookwise validate`"
        return outcome
    except UsageError as exc:
        outcome.error = str(exc)
        return outcome
    registry = default_registry()
    outcome.results = [
        asyncio.run(run_case(case, folder, list(ruleset.rules), registry)) for case in parsed.cases
    ]
    return outcome


def _text(outcomes: list[FileOutcome]) -> str:
    lines: list[str] = []
    passed = failed = 0
    for outcome in outcomes:
        path = outcome.test.path
        if outcome.error:
            lines.append(f"ERROR {path}: {outcome.error}")
            failed += 1
            continue
        for result in outcome.results:
            case = result.case
            if result.passed:
                passed += 1
                lines.append(f"PASS  {path}:{case.line}  {case.name}")
                continue
            failed += 1
            lines.append(f"FAIL  {path}:{case.line}  {case.name}")
            if result.error:
                lines.append(f"  {path}:{case.line}: {result.error}")
            for failure in result.failures:
                lines.append(f"  {path}:{failure.line}: {failure.message}")
                lines.extend(f"    {line}" for line in failure.diff.splitlines())
    total = passed + failed
    noun = "case" if total == 1 else "cases"
    lines.append(
        f"{total} {noun} in {len(outcomes)} file{'s' if len(outcomes) != 1 else ''}: "
        f"{passed} passed, {failed} failed"
    )
    return "\n".join(lines) + "\n"


def _json(outcomes: list[FileOutcome]) -> str:
    cases: list[dict[str, Any]] = []
    for outcome in outcomes:
        path = outcome.test.path
        if outcome.error:
            cases.append({"file": path, "name": None, "line": None, "status": "error",
                          "seconds": 0.0, "error": outcome.error, "failures": []})
            continue
        for result in outcome.results:
            status = "error" if result.error else "passed" if result.passed else "failed"
            cases.append({
                "file": path, "name": result.case.name, "line": result.case.line,
                "status": status, "seconds": round(result.seconds, 6), "error": result.error,
                "failures": [
                    {"line": f.line, "message": f.message, "diff": f.diff}
                    for f in result.failures
                ],
            })
    passed = sum(1 for c in cases if c["status"] == "passed")
    document = {"files": len(outcomes), "passed": passed, "failed": len(cases) - passed,
                "cases": cases}
    return json.dumps(document, indent=2) + "\n"


def _junit(outcomes: list[FileOutcome]) -> str:
    suites = ElementTree.Element("testsuites", name="hookwise test")
    for outcome in outcomes:
        path = outcome.test.path
        failures = sum(1 for r in outcome.results if r.failures and r.error is None)
        errors = sum(1 for r in outcome.results if r.error) + (1 if outcome.error else 0)
        suite = ElementTree.SubElement(
            suites, "testsuite", name=path,
            tests=str(len(outcome.results) or 1 if outcome.error else len(outcome.results)),
            failures=str(failures), errors=str(errors),
            time=f"{sum(r.seconds for r in outcome.results):.3f}",
        )
        if outcome.error:
            case = ElementTree.SubElement(suite, "testcase", classname=path, name=path, time="0")
            ElementTree.SubElement(case, "error", message=outcome.error)
            continue
        for result in outcome.results:
            case = ElementTree.SubElement(
                suite, "testcase", classname=path, name=result.case.name,
                time=f"{result.seconds:.3f}",
            )
            if result.error:
                ElementTree.SubElement(case, "error", message=result.error)
            if result.failures:  # one <failure> per case (JUnit's schema), every one in its text
                first = result.failures[0]
                node = ElementTree.SubElement(
                    case, "failure", message=f"{path}:{first.line}: {first.message}"
                )
                node.text = "\n".join(
                    f"{path}:{f.line}: {f.message}" + (f"\n{f.diff}" if f.diff else "")
                    for f in result.failures
                )
    ElementTree.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(suites, "unicode") + "\n"
