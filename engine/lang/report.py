"""Reporters for validation problems: text, json, github (annotations) and sarif.

Each reporter is a pure function from results to a string; only the CLI writes it out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from engine import __version__
from engine.lang.diagnostics import CHECKS, Diagnostic

DOCS_URL = "https://github.com/hookwise/hookwise/blob/main/docs/checks.md"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def report_text(
    files: int, diagnostics: Sequence[Diagnostic], lines: Mapping[str, list[str]]
) -> str:
    """`file:line:col: error [check] message`, the source line and a caret under the column."""
    out: list[str] = []
    for d in diagnostics:
        out.append(f"{d.path}:{d.line}:{d.column}: {d.severity} [{d.check}] {d.message}")
        source = lines.get(d.path, [])
        if 0 < d.line <= len(source):
            text = source[d.line - 1].replace("\t", " ")
            out.append(f"    {text}")
            out.append("    " + " " * (d.column - 1) + "^")
    noun = "file" if files == 1 else "files"
    errors = [d for d in diagnostics if d.severity == "error"]
    warnings = len(diagnostics) - len(errors)
    also = f" and {_count(warnings, 'warning')}" if warnings else ""
    if errors:
        bad = len({d.path for d in errors})
        out.append(f"found {_count(len(errors), 'problem')}{also} in {bad} of {files} {noun}")
    elif warnings:
        out.append(f"checked {files} {noun}: no problems, {_count(warnings, 'warning')}")
    else:
        out.append(f"checked {files} {noun}: no problems")
    return "\n".join(out) + "\n"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def report_json(files: int, diagnostics: Sequence[Diagnostic]) -> str:
    """`{"files": N, "problems": [{"file","line","column","severity","check","message"}]}`."""
    problems = [d.to_json() for d in diagnostics]
    return json.dumps({"files": files, "problems": problems}, indent=2) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def report_github(files: int, diagnostics: Sequence[Diagnostic]) -> str:
    """GitHub Actions workflow commands: `::error file=..,line=..,col=..::message`."""
    out = []
    for d in diagnostics:
        props = f"file={_escape_property(d.path)},line={d.line},col={d.column}"
        out.append(f"::{d.severity} {props}::{_escape_data(f'[{d.check}] {d.message}')}")
    return "\n".join(out) + ("\n" if out else "")


def report_sarif(files: int, diagnostics: Sequence[Diagnostic]) -> str:
    """SARIF 2.1.0, as GitHub code scanning accepts it."""
    rule_ids = sorted(CHECKS)
    rules = [
        {
            "id": check,
            "name": "".join(part.capitalize() for part in check.split("-")),
            "shortDescription": {"text": CHECKS[check]},
            "fullDescription": {"text": CHECKS[check]},
            "helpUri": f"{DOCS_URL}#{check}",
            "defaultConfiguration": {"level": "error"},
        }
        for check in rule_ids
    ]
    results: list[dict[str, Any]] = [
        {
            "ruleId": d.check,
            "ruleIndex": rule_ids.index(d.check),
            "level": "error" if d.severity == "error" else "warning",
            "message": {"text": d.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": _artifact(d.path),
                        "region": {"startLine": d.line, "startColumn": d.column},
                    }
                }
            ],
            "partialFingerprints": {"primaryLocationLineHash": f"{d.check}:{d.path}:{d.line}"},
        }
        for d in diagnostics
    ]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "hookwise",
                        "version": __version__,
                        "informationUri": "https://github.com/hookwise/hookwise",
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"


def _artifact(path: str) -> dict[str, str]:
    """A relative path is relative to the checkout (%SRCROOT%); an absolute one is a file URI."""
    if Path(path).is_absolute():
        return {"uri": Path(path).as_uri()}
    return {"uri": quote(path.replace("\\", "/")), "uriBaseId": "%SRCROOT%"}


Reporter = Callable[[int, Sequence[Diagnostic], Mapping[str, list[str]]], str]

REPORTERS: dict[str, Reporter] = {
    "text": report_text,
    "json": lambda files, diagnostics, _lines: report_json(files, diagnostics),
    "github": lambda files, diagnostics, _lines: report_github(files, diagnostics),
    "sarif": lambda files, diagnostics, _lines: report_sarif(files, diagnostics),
}


ANNOTATIONS_PER_REQUEST = 50  # GitHub takes at most 50 annotations in one check run request


def check_run_output(
    files: int, rules: int, diagnostics: Sequence[Diagnostic]
) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """The `hookwise / rules` check run for a set of rule files: its conclusion, its output
    (title and summary) and one annotation per problem (GitHub's check run annotation shape).
    https://docs.github.com/en/rest/checks/runs#create-a-check-run"""
    errors = [d for d in diagnostics if d.severity == "error"]
    annotations = [
        {
            "path": d.path,
            "start_line": d.line,
            "end_line": d.line,
            "start_column": d.column,
            "end_column": d.column,
            "annotation_level": "failure" if d.severity == "error" else "warning",
            "title": d.check,
            "message": f"[{d.check}] {d.message}",
        }
        for d in diagnostics
    ]
    if errors:
        title = f"{_count(len(errors), 'problem')} in {_count(len({d.path for d in errors}), 'file')}"
    else:
        title = f"{_count(rules, 'rule')} in {_count(files, 'file')}: no problems"
    lines = [f"- `{d.path}:{d.line}:{d.column}` [{d.check}] {d.message}" for d in diagnostics]
    summary = (
        "The repository's hookwise rules as they would be after merging, checked as "
        "`hookwise validate` checks them.\n\n" + ("\n".join(lines) if lines else "Every file is valid.")
    )
    return ("failure" if errors else "success"), {"title": title, "summary": summary[:65000]}, annotations
