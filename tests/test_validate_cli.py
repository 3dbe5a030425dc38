"""The `validate` and `schema` commands: formats, exit codes, and the shipped examples."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft4Validator, Draft202012Validator

from engine.cli.rules import schema_text
from engine.lang.source import load_document
from tests.conftest import DATA, REPO, shipped_rule_tests, shipped_rules

ERR = DATA / "rules" / "err"
RULE_FILES = shipped_rules()
SARIF_SCHEMA = REPO / ".cache" / "sarif-schema-2.1.0.json"


def test_shipped_rules_validate_clean(cli) -> None:
    code, out, err = cli("validate", str(REPO / "rules"))
    assert (code, err) == (0, "")
    assert out == f"checked {len(RULE_FILES) + len(shipped_rule_tests())} files: no problems\n"
    assert len(RULE_FILES) >= 8


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_shipped_rule_has_schema_comment_and_fits_published_schema(path: Path) -> None:
    text = path.read_text()
    assert text.startswith("# yaml-language-server: $schema=../schemas/rule.schema.json\n")
    data = load_document(text, str(path)).data
    schema = json.loads((REPO / "schemas" / "rule.schema.json").read_text())
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(data)]
    assert errors == []


def test_published_schema_is_current() -> None:
    assert (REPO / "schemas" / "rule.schema.json").read_text() == schema_text(), (
        "schemas/rule.schema.json is stale: run `make schema`"
    )


def test_published_schema_passes_the_meta_schema(cli) -> None:
    code, out, _ = cli("schema")
    schema = json.loads(out)
    assert code == 0
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def _descriptions_missing(schema: object, path: str = "$") -> list[str]:
    missing = []
    if isinstance(schema, dict):
        for name, prop in schema.get("properties", {}).items():
            if isinstance(prop, dict) and "description" not in prop and "$ref" not in prop:
                missing.append(f"{path}.{name}")
        for key, value in schema.items():
            if key == "if":  # selectors of `uses`, not properties a user writes
                continue
            missing.extend(_descriptions_missing(value, f"{path}/{key}"))
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            missing.extend(_descriptions_missing(value, f"{path}[{i}]"))
    return missing


def test_every_schema_property_has_a_description() -> None:
    assert _descriptions_missing(json.loads(schema_text())) == []


def test_schema_has_one_def_per_node_type_selected_by_uses() -> None:
    schema = json.loads(schema_text())
    defs = {k for k in schema["$defs"] if k.startswith("with.")}
    selections = schema["$defs"]["node"]["allOf"]
    assert len(defs) == len(selections) >= 23
    assert {s["then"]["properties"]["with"]["$ref"].split("/")[-1] for s in selections} == defs


def test_three_mistakes_give_three_problems(cli) -> None:
    code, out, _ = cli("validate", "--format", "json", str(ERR / "three-mistakes.yaml"))
    report = json.loads(out)
    assert code == 1
    assert [p["check"] for p in report["problems"]] == [
        "unknown-event",
        "unknown-node-type",
        "unknown-needs",
    ]


def test_json_format_shape(cli) -> None:
    code, out, _ = cli("validate", "--format", "json", str(ERR / "folder-sorted"))
    report = json.loads(out)
    assert code == 1
    assert report["files"] == 3
    assert list(report) == ["files", "problems"]
    for problem in report["problems"]:
        assert list(problem) == ["file", "line", "column", "severity", "check", "message"]
    lines = [(p["file"], p["line"], p["column"]) for p in report["problems"]]
    assert lines == sorted(lines)


def test_github_format_annotations(cli) -> None:
    code, out, _ = cli("validate", "--format", "github", str(ERR / "unknown-needs.yaml"))
    assert code == 1
    path = str(ERR / "unknown-needs.yaml")
    assert out == (
        f"::error file={path},line=10,col=13::[unknown-needs] "
        'node "report" needs unknown node "biuld"; did you mean "build"?\n'
    )


def test_github_format_escapes_newlines_and_percent(cli) -> None:
    from engine.lang.diagnostics import Diagnostic
    from engine.lang.report import report_github

    out = report_github(1, [Diagnostic("a,b:c.yaml", 1, 2, "bad-value", "50% off\nnext")])
    assert out == "::error file=a%2Cb%3Ac.yaml,line=1,col=2::[bad-value] 50% off%0Anext\n".replace(
        "50% off", "50%25 off"
    )


def test_sarif_output_validates_against_sarif_2_1_0(cli) -> None:
    assert SARIF_SCHEMA.exists(), "run `make test`, which fetches the SARIF schema first"
    code, out, _ = cli("validate", "--format", "sarif", str(ERR))
    log = json.loads(out)
    Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(log)
    assert code == 1
    results = log["runs"][0]["results"]
    assert len(results) > 40
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        region = result["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] >= 1 and region["startColumn"] >= 1


def test_sarif_clean_run_is_valid_too(cli) -> None:
    code, out, _ = cli("validate", "--format", "sarif", str(REPO / "rules"))
    Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(json.loads(out))
    assert code == 0
    assert json.loads(out)["runs"][0]["results"] == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["validate", "no/such/folder"], "no such file or folder: no/such/folder"),
        (["validate", "--format", "xml", "rules"], "invalid choice: 'xml'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "the following arguments are required"),
    ],
)
def test_usage_errors_exit_2(cli, argv: list[str], message: str) -> None:
    code, out, err = cli(*argv)
    assert code == 2
    assert out == ""
    assert message in err


def test_python_dash_m_engine_runs_the_cli() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "validate",
            str(ERR / "unknown-event.yaml"),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 1
    assert json.loads(done.stdout)["problems"][0]["check"] == "unknown-event"
    assert done.stderr == ""


def test_ignore_comment_silences_only_named_checks_on_its_line(cli) -> None:
    code, out, _ = cli("validate", "--format", "json", str(ERR / "ignore-comment.yaml"))
    assert code == 1
    checks = [(p["line"], p["check"]) for p in json.loads(out)["problems"]]
    assert checks == [(4, "unknown-activity-type")]


def test_every_check_is_documented() -> None:
    from engine.lang.diagnostics import CHECKS

    text = (REPO / "docs" / "checks.md").read_text()
    assert [c for c in CHECKS if f"## {c}\n" not in text] == []


def test_a_reader_that_goes_away_gets_no_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """`hookwise schema | head -c 400`: the pipe closes early; the exit is quiet (141)."""
    import os
    import sys

    from engine.cli.main import entrypoint

    read, write = os.pipe()
    os.close(read)
    out = os.fdopen(write, "w")
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "argv", ["hookwise", "schema"])
    with pytest.raises(SystemExit) as ended:
        entrypoint()
    out.close()
    assert ended.value.code == 141
