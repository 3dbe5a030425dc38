"""The expression language: a table of values and errors, many from GitHub's documentation
(https://docs.github.com/en/actions/reference/workflows-and-actions/expressions)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from engine.expr.evaluate import EvaluationError, RunState, evaluate, render
from engine.expr.parse import ExpressionError, parse, split_template

PAYLOAD = {
    "action": "opened",
    "issue": {
        "number": 12,
        "title": "Spelling error",
        "labels": [{"name": "bug"}, {"name": "help wanted"}],
        "body": "please run ${{ github.token }} for me",
    },
    "pull_request": {
        "title": "feat: add X",
        "draft": False,
        "additions": 120,
        "head": {"sha": "abc"},
    },
    "fruits": [
        {"name": "apple", "quantity": 1},
        {"name": "orange", "quantity": 2},
        {"name": "pear", "quantity": 1},
    ],
    "vegetables": {
        "carrot": {"ediblePortion": "root"},
        "lettuce": {"ediblePortion": "leaves"},
        "potato": {"ediblePortion": "tuber"},
    },
    "count": 3,
    "empty": "",
    "zero": 0,
    "nothing": None,
    "Mixed-Case": "yes",
}
CONTEXTS: dict[str, Any] = {
    "event": PAYLOAD,
    "github": {
        "event": "issues",
        "event_name": "issues",
        "action": "opened",
        "repository": "octo-org/hello",
        "sender": "octocat",
        "number": 12,
        "ref": "refs/heads/main",
    },
    "vars": {"label": "docs", "limit": 10, "flag": True, "list": ["a", "b"]},
    "rule": {"name": "demo"},
    "nodes": {"files": {"outputs": {"count": 2, "files": ["a.md", "b.py"]}, "status": "success"}},
}

VALUES: list[tuple[str, Any]] = [
    # literals (GitHub docs: "Literals")
    ("null", None),
    ("true", True),
    ("false", False),
    ("711", 711),
    ("-9.2", -9.2),
    ("0xff", 255),
    ("-2.99e-2", -0.0299),
    ("'Mona the Octocat'", "Mona the Octocat"),
    ("'It''s open source!'", "It's open source!"),
    ("''", ""),
    ("1.0", 1.0),
    ("0", 0),
    # property access and contexts
    ("github.event_name", "issues"),
    ("github.EVENT_NAME", "issues"),
    ("GITHUB.repository", "octo-org/hello"),
    ("github['repository']", "octo-org/hello"),
    ("event.issue.title", "Spelling error"),
    ("event['issue']['title']", "Spelling error"),
    ("event.ISSUE.Title", "Spelling error"),
    ("event.issue.missing", None),
    ("event.missing.deeper.still", None),
    ("event.issue.labels[0].name", "bug"),
    ("event.issue.labels[1]['name']", "help wanted"),
    ("event.issue.labels[2]", None),
    ("event.issue.labels[-1]", None),
    ("event.issue.labels['0']", None),
    # GitHub's runner rounds a fractional index down (issue 12)
    ("event.issue.labels[1.5]", {"name": "help wanted"}),
    ("fromJSON('[0,1]')[1.1]", 1),
    ("fromJSON('[0,1]')[0.99]", 0),
    # format() shows arrays and objects as the runner does, not as JSON
    ("format('{0}|{1}', fromJSON('[1,2]'), fromJSON('{\"a\": 1}'))", "Array|Object"),
    # numbers in text: 15 significant digits, as the runner prints them
    ("format('{0}', 12345678901234567890)", "1.23456789012346E+19"),
    ("format('{0}', 0.1)", "0.1"),
    ("format('{0}', 1000000000000000)", "1E+15"),
    ("format('{0}', 123456789012345)", "123456789012345"),
    ("event['mixed-case']", "yes"),
    ("event.count", 3),
    ("vars.label", "docs"),
    ("vars.list[1]", "b"),
    ("rule.name", "demo"),
    ("nodes.files.outputs.count", 2),
    ("nodes.files.status", "success"),
    ("nodes.files.outputs.files[0]", "a.md"),
    ("nodes.other.outputs.x", None),
    ("unknown.context", None),
    ("event.issue.title.length", None),
    # object filters (GitHub docs: "Object filters")
    ("event.fruits.*.name", ["apple", "orange", "pear"]),
    ("event.fruits[*].name", ["apple", "orange", "pear"]),
    ("event.vegetables.*.ediblePortion", ["root", "leaves", "tuber"]),
    ("event.issue.labels.*.name", ["bug", "help wanted"]),
    ("event.issue.labels.*.missing", []),
    ("event.count.*", []),
    ("event.fruits.*.quantity", [1, 2, 1]),
    ("contains(event.fruits.*.name, 'pear')", True),
    # comparison with loose equality (GitHub docs: "Operators")
    ("1 == 1", True),
    ("1 == 1.0", True),
    ("1 != 2", True),
    ("'abc' == 'ABC'", True),
    ("'abc' != 'ABC'", False),
    ("null == 0", True),
    ("null == null", True),
    ("null == false", True),
    ("true == 1", True),
    ("false == 0", True),
    ("'' == 0", True),
    ("'' == null", True),
    ("'1' == 1", True),
    ("'1.5' == 1.5", True),
    ("' 2 ' == 2", True),
    ("'0x10' == 16", True),
    ("'a' == 0", False),
    ("'a' != 0", True),
    ("'true' == true", False),
    ("event.issue == event.issue", True),
    ("fromJSON('[]') == fromJSON('[]')", False),
    ("fromJSON('{}') == fromJSON('{}')", False),
    ("event.issue == 1", False),
    ("event.fruits == 0", False),
    ("github.event_name == 'ISSUES'", True),
    ("1 < 2", True),
    ("2 <= 2", True),
    ("3 > 2", True),
    ("2 >= 3", False),
    ("'a' < 'B'", True),
    ("'B' > 'a'", True),
    ("'10' > 9", True),
    ("'abc' > 1", False),
    ("'abc' < 1", False),
    ("null < 1", True),
    ("true > false", True),
    ("event.pull_request.additions > 100", True),
    ("nodes.files.outputs.count > 0", True),
    ("fromJSON('NaN') == fromJSON('NaN')", False),
    # logical operators return operands
    ("true && 'yes'", "yes"),
    ("false && 'yes'", False),
    ("0 && 'yes'", 0),
    ("'' && 'yes'", ""),
    ("null || 'default'", "default"),
    ("'' || 'default'", "default"),
    ("'set' || 'default'", "set"),
    ("event.nothing || event.empty || 'last'", "last"),
    ("true && false || 'x'", "x"),
    ("event.pull_request.draft && 'draft' || 'ready'", "ready"),
    ("nodes.files.outputs.count > 0 && 'success' || 'failure'", "success"),
    ("!true", False),
    ("!false", True),
    ("!''", True),
    ("!'a'", False),
    ("!0", True),
    ("!null", True),
    ("!event.issue", False),
    ("!!event.count", True),
    ("!(1 == 2)", True),
    ("(1 == 1) && (2 == 2)", True),
    ("1 == 1 && 2 == 3 || 4 == 4", True),
    ("!event.pull_request.draft", True),
    # contains (GitHub docs: "contains")
    ("contains('Hello world', 'llo')", True),
    ("contains('Hello world', 'LLO')", True),
    ("contains('Hello world', 'xyz')", False),
    ("contains(event.issue.labels.*.name, 'bug')", True),
    ("contains(event.issue.labels.*.name, 'BUG')", True),
    ("contains(event.issue.labels.*.name, 'bu')", False),
    ('contains(fromJSON(\'["push", "pull_request"]\'), github.event_name)', False),
    ('contains(fromJSON(\'["issues", "pull_request"]\'), github.event_name)', True),
    ("contains(fromJSON('[1, 2]'), '2')", True),
    ("contains(123, 2)", True),
    ("contains(null, '')", True),
    ("contains(true, 'ru')", True),
    # startsWith / endsWith
    ("startsWith('Hello world', 'He')", True),
    ("startsWith('Hello world', 'he')", True),
    ("startsWith('Hello world', 'world')", False),
    ("endsWith('Hello world', 'ld')", True),
    ("endsWith('Hello world', 'LD')", True),
    ("endsWith('Hello world', 'He')", False),
    ("startsWith(github.ref, 'refs/heads/')", True),
    ("startsWith(event.pull_request.title, 'feat')", True),
    ("startsWith(12345, 12)", True),
    ("endsWith(null, '')", True),
    # format
    ("format('Hello {0} {1} {2}', 'Mona', 'the', 'Octocat')", "Hello Mona the Octocat"),
    ("format('{{Hello {0} {1} {2}!}}', 'Mona', 'the', 'Octocat')", "{Hello Mona the Octocat!}"),
    ("format('{0}{0}', 'ab')", "abab"),
    ("format('{1}-{0}', 'a', 'b')", "b-a"),
    ("format('no placeholders')", "no placeholders"),
    ("format('{0}', null)", ""),
    ("format('{0} {1}', true, 3)", "true 3"),
    ("format('#{0}', github.number)", "#12"),
    # join
    ("join(event.issue.labels.*.name, ', ')", "bug, help wanted"),
    ("join(event.issue.labels.*.name)", "bug,help wanted"),
    ("join(vars.list, '')", "ab"),
    ("join('abc', ',')", "abc"),
    ("join(fromJSON('[1, true, null]'), '|')", "1|true|"),
    # toJSON / fromJSON
    ("toJSON(vars.list)", '[\n  "a",\n  "b"\n]'),
    ("toJSON('x')", '"x"'),
    ("toJSON(null)", "null"),
    ("toJSON(1)", "1"),
    ("fromJSON('true')", True),
    ("fromJSON('42')", 42),
    ('fromJSON(\'{"a": {"b": [1, 2]}}\').a.b[1]', 2),
    ("fromJSON('\"text\"')", "text"),
    ("fromJSON(toJSON(vars.list))", ["a", "b"]),
    ("fromJSON('null')", None),
    # status functions with the default state
    ("success()", True),
    ("failure()", False),
    ("always()", True),
    ("cancelled()", False),
    ("SUCCESS()", True),
    ("always() && vars.flag", True),
    # matches(text, regex): RE2, unanchored unless the pattern says ^ or $
    ("matches('[WIP] parser', '^\\[WIP\\]')", True),
    ("matches('Wipe the cache', '(?i)^\\[?wip\\b')", False),
    ("matches('wip: parser', '(?i)^\\[?wip\\b')", True),
    ("matches('v1.2.3', '^v[0-9]+\\.[0-9]+\\.[0-9]+$')", True),
    ("matches(github.ref, 'heads/ma')", True),
    ("matches(12, '^1')", True),  # the text is converted to a string first
    ("matches(null, '^$')", True),
    ("matches('café', '^caf.$')", True),  # characters, not bytes
    ("MATCHES('a', 'A')", False),  # case-sensitive unless (?i)
    # length(value)
    ("length('héllo')", 5),
    ("length(vars.list)", 2),
    ("length(vars)", 4),
    ("length(null)", 0),
    ("length(event.issue.labels.*.name)", 2),
    ("length('')", 0),
]


@pytest.mark.parametrize(("source", "expected"), VALUES, ids=[v[0] for v in VALUES])
def test_value(source: str, expected: Any) -> None:
    value = evaluate(parse(source), CONTEXTS)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (RunState(), {"success": True, "failure": False, "always": True, "cancelled": False}),
        (
            RunState(upstream_ok=False, upstream_failed=True),
            {"success": False, "failure": True, "always": True, "cancelled": False},
        ),
        (
            RunState(upstream_ok=False),
            {"success": False, "failure": False, "always": True, "cancelled": False},
        ),
        (
            RunState(cancelled=True),
            {"success": False, "failure": False, "always": True, "cancelled": True},
        ),
    ],
    ids=["ok", "failed", "skipped-upstream", "cancelled"],
)
def test_status_functions(state: RunState, expected: dict[str, bool]) -> None:
    assert {name: evaluate(parse(f"{name}()"), CONTEXTS, state) for name in expected} == expected


RENDERED: list[tuple[str, Any]] = [
    ("${{ github.number }}", 12),
    ("${{ vars.flag }}", True),
    ("  ${{ vars.flag }}  ", "  true  "),
    ("PR #${{ github.number }}", "PR #12"),
    ("flag=${{ vars.flag }}", "flag=true"),
    ("none=${{ event.nothing }}.", "none=."),
    ("list=${{ vars.list }}", 'list=[\n  "a",\n  "b"\n]'),
    ("${{ 1.5 }} and ${{ 2.0 }}", "1.5 and 2"),
    ("no expression", "no expression"),
    ("a ${{ 'x' }} b ${{ 'y' }} c", "a x b y c"),
    ("${{ format('}}') }}", "}"),
    ("${{ 'a}}b' }}", "a}}b"),
    ("body: ${{ event.issue.body }}", "body: please run ${{ github.token }} for me"),
    ("${{ event.issue.body }}", "please run ${{ github.token }} for me"),
]


@pytest.mark.parametrize(("template", "expected"), RENDERED, ids=[r[0] for r in RENDERED])
def test_render(template: str, expected: Any) -> None:
    assert render(template, CONTEXTS) == expected


SYNTAX_ERRORS: list[tuple[str, str]] = [
    ("", "expression is empty"),
    ("a ==", "expression ends where a value was expected"),
    ("== a", "unexpected `==`"),
    ("'unterminated", "string is never closed"),
    ('"double"', "strings use single quotes"),
    ("a b", "unexpected `b` after the expression"),
    ("(a", "expected `)`"),
    ("contains(a, b", "expected `)`"),
    ("a.", "expected a property name after `.`"),
    ("a.1", "unexpected `.1` after the expression"),
    ("a[1", "expected `]`"),
    ("1 + 1", "unexpected character '+'"),
    ("a = b", "unexpected character '='"),
    ("a & b", "unexpected character '&'"),
    ("!", "expression ends where a value was expected"),
    (",", "unexpected `,`"),
    ("a == == b", "unexpected `==`"),
    ("f(,)", "unexpected `,`"),
    ("a ? b : c", "unexpected character '?'"),
    ("`cmd`", "unexpected character '`'"),
]


@pytest.mark.parametrize(
    ("source", "message"), SYNTAX_ERRORS, ids=[s[0] or "empty" for s in SYNTAX_ERRORS]
)
def test_syntax_error(source: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(source)
    assert message in caught.value.message


EVALUATION_ERRORS: list[tuple[str, str]] = [
    ("fromJSON('{bad')", "fromJSON: not valid JSON"),
    ("fromJSON('')", "fromJSON: not valid JSON"),
    ("format('{0}')", "format: {0} has no argument"),
    ("format('{x}', 1)", "format: invalid placeholder"),
    ("format('{', 1)", "format: invalid placeholder"),
    ("format('}', 1)", "format: unmatched '}'"),
    ("format('{2}', 'a', 'b')", "format: {2} has no argument"),
    ("matches('a', vars.label == 'x' || '(')", "matches: invalid regular expression '(': missing )"),
    ("matches('a', 1)", "matches: the pattern must be a string, found a number"),
    ("length(1)", "length: expects a string, array or object, found a number"),
    ("length(true)", "length: expects a string, array or object, found a boolean"),
    # RE2's constant grows with the program; past 1,000 instructions a pattern is refused
    ("matches('a', vars.label == 'x' || '(\\w|\\W){1000}z')", "compiles to 9,005 instructions, more than 1,000"),
]


@pytest.mark.parametrize(
    ("source", "message"), EVALUATION_ERRORS, ids=[e[0] for e in EVALUATION_ERRORS]
)
def test_evaluation_error(source: str, message: str) -> None:
    with pytest.raises(EvaluationError) as caught:
        evaluate(parse(source), CONTEXTS)
    assert message in str(caught.value)


# --- hostile input is data, never code -------------------------------------------------

HOSTILE_VALUES: list[tuple[str, Any]] = [
    ("event.__class__", None),
    ("event['__class__']['__init__']['__globals__']", None),
    ("event.issue.__dict__", None),
    ("vars.list.__len__", None),
    ("github.repository.upper", None),
    ("event.issue.labels.pop", None),
    ("rule.__module__", None),
    ("toJSON(event.__class__)", "null"),
]


@pytest.mark.parametrize(("source", "expected"), HOSTILE_VALUES, ids=[h[0] for h in HOSTILE_VALUES])
def test_python_attributes_are_unreachable(source: str, expected: Any) -> None:
    assert evaluate(parse(source), CONTEXTS) == expected


@pytest.mark.parametrize(
    "source",
    [
        "(" * 100 + "1" + ")" * 100,
        "!" * 100 + "true",
        "f(" * 100 + ")" * 100,
        "'" + "x" * 20_000 + "'",
    ],
    ids=["deep-parentheses", "deep-not", "deep-calls", "huge-literal"],
)
def test_deep_or_huge_expressions_are_refused(source: str) -> None:
    with pytest.raises(ExpressionError):
        parse(source)


def test_huge_values_are_refused_at_evaluation() -> None:
    contexts = {"event": {"big": "x" * 600_000}}
    with pytest.raises(EvaluationError, match="longer than"):
        evaluate(parse("format('{0}{0}', event.big)"), contexts)


def test_payload_strings_with_expressions_are_not_evaluated_again() -> None:
    contexts = {"event": {"title": "${{ toJSON(github) }}"}, "github": {"token": "secret"}}
    assert render("Title: ${{ event.title }}", contexts) == "Title: ${{ toJSON(github) }}"


def test_templates_split_with_offsets() -> None:
    segments = split_template("a ${{ b }} c")
    assert [(s.text, s.offset, s.expr is not None) for s in segments] == [
        ("a ", 0, False),
        ("${{ b }}", 2, True),
        (" c", 10, False),
    ]


def test_nan_and_infinity_literals() -> None:
    assert math.isnan(evaluate(parse("NaN"), {}))
    assert evaluate(parse("Infinity"), {}) == math.inf


def test_table_has_at_least_150_cases() -> None:
    total = (
        len(VALUES)
        + len(RENDERED)
        + len(SYNTAX_ERRORS)
        + len(EVALUATION_ERRORS)
        + len(HOSTILE_VALUES)
    )
    assert total >= 150
