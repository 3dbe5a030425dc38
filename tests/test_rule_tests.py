"""`hookwise test`: rule tests beside the rules, offline, with canned GitHub answers.

Every shipped rule has a test file and they pass; a wrong expectation fails with exit 1 at the
file:line where it is written, with a diff; JUnit output validates against JUnit's schema; a test
file's own problems have line:col; a read without a canned answer fails its node, naming it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

import pytest
import xmlschema

from engine.lang.files import find_rule_files, find_test_files
from tests.conftest import REPO, CliResult, shipped_rules

Cli = Callable[..., CliResult]


def _copy(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    for name in names:
        shutil.copy(REPO / "rules" / name, folder / name)
    return folder


def test_every_shipped_rule_has_a_test_file_and_every_case_passes(cli: Cli) -> None:
    tests = {Path(p).name.removesuffix(".test.yaml") for p in find_test_files([str(REPO / "rules")])}
    assert tests == {p.stem for p in shipped_rules()}
    code, out, err = cli("test", str(REPO / "rules"))
    assert (code, err) == (0, ""), out + err
    lines = out.splitlines()
    assert all(line.startswith("PASS  ") for line in lines[:-1]), out
    assert lines[-1].endswith(f"in {len(tests)} files: {len(lines) - 1} passed, 0 failed")


def test_rule_discovery_leaves_test_files_out(cli: Cli) -> None:
    found = find_rule_files([str(REPO / "rules")])
    assert found and not [p for p in found if p.endswith(".test.yaml")]
    code, out, _ = cli("validate", str(REPO / "rules"))
    files = len(shipped_rules()) + len(find_test_files([str(REPO / "rules")]))
    assert (code, out.splitlines()[-1]) == (0, f"checked {files} files: no problems")


@pytest.mark.parametrize(
    ("find", "replace", "expected"),
    [
        ("        label: success\n", "        label: failure\n",
         "node label: expected status failure, got success"),
        ("body: {labels: [first-contribution]}", "body: {labels: [first-timer]}",
         "planned write 2 differs from the one expected (2 planned)"),
        ("      matched: [welcome-first-time]\n      nodes:\n        welcome: success",
         "      matched: []\n      nodes:\n        welcome: success",
         "expected matched [], got ['welcome-first-time']"),
    ],
    ids=["node-status", "write-body", "matched"],
)
def test_a_wrong_expectation_fails_at_its_line_with_a_diff(
    tmp_path: Path, cli: Cli, find: str, replace: str, expected: str
) -> None:
    folder = _copy(tmp_path, "welcome-first-time.yaml", "welcome-first-time.test.yaml")
    test = folder / "welcome-first-time.test.yaml"
    text = test.read_text()
    assert find in text
    test.write_text(text.replace(find, replace, 1))
    code, out, _ = cli("test", str(folder))
    assert code == 1
    assert f"FAIL  {test}:5  a first-time contributor is welcomed and labelled" in out
    failure = next(x for x in out.splitlines() if expected in x)
    written = int(failure.split(":")[1])
    # the line of the expectation, or of the list item (a write) that holds it
    lines = test.read_text().splitlines()[written - 1 : written + 1]
    assert any(replace.splitlines()[0].strip() in line for line in lines), failure
    assert out.splitlines()[-1] == "2 cases in 1 file: 1 passed, 1 failed"


def test_a_write_that_differs_is_shown_as_a_diff(tmp_path: Path, cli: Cli) -> None:
    folder = _copy(tmp_path, "welcome-first-time.yaml", "welcome-first-time.test.yaml")
    test = folder / "welcome-first-time.test.yaml"
    test.write_text(test.read_text().replace("[first-contribution]", "[first-timer]"))
    _, out, _ = cli("test", str(folder))
    assert '-        "first-timer"' in out and '+        "first-contribution"' in out


JUNIT_SCHEMA = REPO / "tests" / "data" / "junit" / "junit-10.xsd"


@pytest.fixture(scope="module")
def junit_schema() -> xmlschema.XMLSchema:
    """JUnit's XML schema as Jenkins and Maven Surefire define it (provenance beside it)."""
    return xmlschema.XMLSchema(str(JUNIT_SCHEMA))


def _junit_errors(schema: xmlschema.XMLSchema, out: str) -> list[str]:
    return [f"{e.path}: {e.reason}" for e in schema.iter_errors(out.split("\n", 1)[1])]


def test_the_junit_schema_rejects_what_it_should(junit_schema: xmlschema.XMLSchema) -> None:
    # the check can fail: a suite without its counts and a case without a name are refused
    bad = '<?xml version="1.0"?>\n<testsuites><testsuite name="x"><testcase /></testsuite></testsuites>'
    assert len(_junit_errors(junit_schema, bad)) >= 2


def test_junit_output_of_passing_cases_validates(
    cli: Cli, junit_schema: xmlschema.XMLSchema
) -> None:
    code, out, _ = cli("test", str(REPO / "rules"), "--format", "junit")
    assert code == 0
    assert _junit_errors(junit_schema, out) == []


def test_junit_output_of_a_broken_test_file_validates(
    tmp_path: Path, cli: Cli, junit_schema: xmlschema.XMLSchema
) -> None:
    folder = _copy(tmp_path, "welcome-first-time.yaml")
    (folder / "welcome.test.yaml").write_text("cases:\n  - name: one\n")
    code, out, _ = cli("test", str(folder), "--format", "junit")
    assert code == 1
    assert _junit_errors(junit_schema, out) == []
    [case] = ElementTree.fromstring(out.split("\n", 1)[1]).iter("testcase")
    assert [child.tag for child in case] == ["error"]


def test_junit_output_has_the_shape_ci_systems_read(
    tmp_path: Path, cli: Cli, junit_schema: xmlschema.XMLSchema
) -> None:
    folder = _copy(tmp_path, "welcome-first-time.yaml", "welcome-first-time.test.yaml")
    test = folder / "welcome-first-time.test.yaml"
    test.write_text(test.read_text().replace("        label: success\n", "        label: failure\n"))
    code, out, _ = cli("test", str(folder), "--format", "junit")
    assert code == 1
    assert _junit_errors(junit_schema, out) == []
    root = ElementTree.fromstring(out.split("\n", 1)[1])
    assert root.tag == "testsuites"
    [suite] = root
    assert (suite.tag, suite.get("name"), suite.get("tests"), suite.get("failures")) == (
        "testsuite", str(test), "2", "1"
    )
    cases = list(suite)
    assert [c.tag for c in cases] == ["testcase", "testcase"]
    for case in cases:  # the attributes JUnit's schema (Jenkins' junit.xsd) allows
        assert set(case.attrib) <= {"name", "classname", "time", "assertions", "status"}
        float(case.get("time") or "x")
    [failure] = cases[0]
    assert failure.tag == "failure"
    assert (failure.get("message") or "").startswith(f"{test}:14: node label")
    assert list(cases[1]) == []


def test_a_test_files_problems_have_line_and_column(tmp_path: Path, cli: Cli) -> None:
    folder = _copy(tmp_path, "welcome-first-time.yaml")
    (folder / "welcome.test.yaml").write_text(
        "cases:\n"
        "  - name: one\n"
        "    event: pull_request\n"
        "    payload: {example: pull_request/opened.1}\n"
        "    expectt: {matched: []}\n"
        "  - name: two\n"
        "    event: pull_request\n"
        "    payload: {example: pull_request/opened.1}\n"
        "    expect: {nodes: {welcome: succeeded}}\n"
    )
    code, out, err = cli("test", str(folder))
    assert code == 1
    assert f"{folder / 'welcome.test.yaml'}:5:5" in err and "unknown key 'expectt'" in err
    assert f"{folder / 'welcome.test.yaml'}:2:5" in err and "a case needs `expect:`" in err
    assert f"{folder / 'welcome.test.yaml'}:9:31" in err and "'succeeded' is not one of" in err
    assert out.startswith(f"ERROR {folder / 'welcome.test.yaml'}")


def test_a_read_without_a_canned_answer_fails_its_node_naming_the_request(
    tmp_path: Path, cli: Cli
) -> None:
    folder = _copy(tmp_path, "pr-size-summary.yaml")
    (folder / "size.test.yaml").write_text(
        "cases:\n"
        "  - name: no answers\n"
        "    event: pull_request\n"
        "    payload: {example: pull_request/opened.1}\n"
        "    expect: {nodes: {files: success}}\n"
    )
    code, out, _ = cli("test", str(folder))
    assert code == 1
    assert (
        "got failure (GitHub 404: no canned answer for GET "
        "/repos/Codertocat/Hello-World/pulls/2/files (answers given: none))" in out
    )


def test_an_unknown_example_payload_lists_the_ones_there_are(tmp_path: Path, cli: Cli) -> None:
    folder = _copy(tmp_path, "welcome-first-time.yaml")
    (folder / "w.test.yaml").write_text(
        "cases:\n"
        "  - name: typo\n"
        "    event: pull_request\n"
        "    payload: {example: pull_request/openned.1}\n"
        "    expect: {matched: []}\n"
    )
    code, out, _ = cli("test", str(folder))
    assert code == 1
    assert "no GitHub example payload 'pull_request/openned.1'; pull_request has:" in out
    assert "opened.1" in out


def test_no_test_files_is_an_error_not_a_pass(tmp_path: Path, cli: Cli) -> None:
    folder = _copy(tmp_path, "welcome-first-time.yaml")
    code, out, err = cli("test", str(folder))
    assert (code, out) == (1, "")
    assert "no rule tests (*.test.yaml)" in err


def test_run_answers_reads_from_canned_answers_and_plans_writes(tmp_path: Path, cli: Cli) -> None:
    import json

    import yaml

    spec = yaml.safe_load((REPO / "rules" / "automerge-dependency-patches.test.yaml").read_text())
    patch = spec["cases"][0]
    (tmp_path / "answers.yaml").write_text(yaml.safe_dump({"answers": patch["answers"]}))
    payload = json.loads((REPO / "vendor/shared/fixtures/github/webhooks/pull_request/opened.1.json").read_text())
    bot = {"login": "dependabot[bot]", "type": "Bot"}
    payload["pull_request"]["user"] = payload["sender"] = bot
    payload["pull_request"]["head"]["ref"] = "dependabot/pip/django-4.2.13"
    (tmp_path / "pr.json").write_text(json.dumps(payload))
    code, out, err = cli(
        "run", "--event", "pull_request", "--payload", str(tmp_path / "pr.json"),
        "--rules", str(REPO / "rules" / "automerge-dependency-patches.yaml"),
        "--answers", str(tmp_path / "answers.yaml"),
    )
    assert (code, err) == (0, ""), out + err
    assert "  canned GET /repos/Codertocat/Hello-World/pulls/2/commits -> 200" in out
    assert out.splitlines()[-2:] == [
        "  planned POST /repos/Codertocat/Hello-World/pulls/2/reviews",
        "  planned PUT /repos/Codertocat/Hello-World/pulls/2/merge",
    ]


def test_simulate_answers_settles_team_membership(tmp_path: Path, cli: Cli) -> None:
    import json

    payload = json.loads((REPO / "vendor/shared/fixtures/github/webhooks/pull_request/labeled.1.json").read_text())
    payload["label"]["name"] = "security"
    (tmp_path / "pr.json").write_text(json.dumps(payload))
    (tmp_path / "answers.json").write_text(json.dumps([
        {"request": "GET /orgs/octo-org/teams/triagers/memberships/codertocat",
         "body": {"state": "active", "role": "member"}},
    ]))
    argv = ["simulate", "--event", "pull_request", "--payload", str(tmp_path / "pr.json"),
            "--rules", str(REPO / "rules" / "team-review-on-label.yaml"), "--format", "json"]
    code, out, _ = cli(*argv, "--answers", str(tmp_path / "answers.json"))
    assert code == 0 and [m["rule"] for m in json.loads(out)["matched"]] == ["team-review-on-label"]
    code, out, _ = cli(*argv)
    assert code == 0 and json.loads(out)["matched"] == []


@pytest.mark.parametrize(
    "path", find_test_files([str(REPO / "rules")]), ids=lambda p: Path(p).name
)
def test_shipped_test_files_fit_the_published_schema(path: str) -> None:
    import json

    from jsonschema import Draft202012Validator

    from engine.lang.source import load_document

    schema = json.loads((REPO / "schemas" / "rule-test.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    text = Path(path).read_text()
    assert text.startswith("# yaml-language-server: $schema=../schemas/rule-test.schema.json\n")
    errors = list(Draft202012Validator(schema).iter_errors(load_document(text, path).data))
    assert errors == []


def test_validate_checks_test_files_too(tmp_path: Path, cli: Cli) -> None:
    folder = _copy(tmp_path, "welcome-first-time.yaml", "welcome-first-time.test.yaml")
    (folder / "bad.test.yaml").write_text(
        "cases:\n  - name: x\n    event: push\n    payload: {example: push/push.1}\n"
        "    expect: {matchd: []}\n"
    )
    code, out, _ = cli("validate", str(folder))
    assert code == 1
    assert f"{folder / 'bad.test.yaml'}:5:14: error [unknown-key] unknown key 'matchd'" in out
    assert out.splitlines()[-1] == "found 1 problem in 1 of 3 files"


GET_RULE = """name: read-pr
on:
  events:
    pull_request: {types: [opened]}
nodes:
  pr:
    uses: github.pull_request.get
"""


def test_a_diff_is_answered_by_the_answer_for_that_media_type(tmp_path: Path, cli: Cli) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "read-pr.yaml").write_text(GET_RULE)
    answers = (
        "      - {request: GET /repos/Codertocat/Hello-World/pulls/2, body: {number: 2, title: T}}\n"
        "      - {request: GET /repos/Codertocat/Hello-World/issues/2/comments, body: []}\n"
        "      - {request: GET /repos/Codertocat/Hello-World/pulls/2/files, body: []}\n"
    )
    (folder / "read-pr.test.yaml").write_text(
        "cases:\n"
        "  - name: with its diff\n"
        "    event: pull_request\n"
        "    payload: {example: pull_request/opened.1}\n"
        "    answers:\n" + answers +
        "      - {request: GET /repos/Codertocat/Hello-World/pulls/2, accept: diff, body: 'diff --git a/x b/x'}\n"
        "    expect:\n"
        "      nodes: {pr: {status: success, outputs: {diff: 'diff --git a/x b/x', pull_request: {title: T}}}}\n"
        "  - name: without one\n"
        "    event: pull_request\n"
        "    payload: {example: pull_request/opened.1}\n"
        "    answers:\n" + answers +
        "    expect:\n"
        "      nodes: {pr: {status: success, outputs: {diff: null, diff_error: 'GitHub 404: no canned"
        " answer for GET /repos/Codertocat/Hello-World/pulls/2 (accept: diff) (answers given:"
        " GET /repos/Codertocat/Hello-World/pulls/2, GET /repos/Codertocat/Hello-World/issues/2/comments,"
        " GET /repos/Codertocat/Hello-World/pulls/2/files)'}}}\n"
    )
    code, out, _ = cli("test", str(folder))
    assert code == 0, out


def test_json_output_is_the_documented_document(tmp_path: Path, cli: Cli) -> None:
    folder = _copy(tmp_path, "welcome-first-time.yaml", "welcome-first-time.test.yaml")
    test = folder / "welcome-first-time.test.yaml"
    test.write_text(test.read_text().replace("        label: success\n", "        label: failure\n"))
    code, out, _ = cli("test", str(folder), "--format", "json")
    assert code == 1
    document = json.loads(out)
    assert (document["files"], document["passed"], document["failed"]) == (1, 1, 1)
    failed, passed = document["cases"]
    assert set(failed) == {"file", "name", "line", "status", "seconds", "error", "failures"}
    assert (failed["file"], failed["status"], passed["status"]) == (str(test), "failed", "passed")
    [failure] = failed["failures"]
    assert failure["line"] == 14 and failure["message"].startswith("node label")


def test_an_unknown_example_lists_the_events_examples(tmp_path: Path, cli: Cli) -> None:
    folder = _copy(tmp_path, "welcome-first-time.yaml")
    (folder / "welcome.test.yaml").write_text(
        "cases:\n"
        "  - name: one\n"
        "    event: pull_request\n"
        "    payload: {example: pull_request/openned.1}\n"
        "    expect: {matched: []}\n"
    )
    code, out, _ = cli("test", str(folder))
    assert code == 1
    assert "no GitHub example payload 'pull_request/openned.1'" in out
    assert "opened.1" in out
