"""Structured logs: one logger class that every log call goes through, so no field can clash
with a `LogRecord` attribute (a clash once killed `hookwise worker` at its first INFO line)."""

from __future__ import annotations

import ast
import io
import json
import logging

import pytest

from engine.observe import logs
from tests.conftest import REPO

RECORD_ATTRIBUTES = sorted(vars(logging.makeLogRecord({})))


@pytest.fixture
def captured() -> io.StringIO:
    stream = io.StringIO()
    logs.configure("DEBUG", stream)
    yield stream
    logs.configure("INFO")


@pytest.mark.parametrize("field", [*RECORD_ATTRIBUTES, "message", "asctime"])
def test_a_field_named_like_a_record_attribute_is_logged(field: str, captured: io.StringIO) -> None:
    logs.get("hookwise.test").debug("probe", **{field: "value"})
    entry = json.loads(captured.getvalue())
    assert entry["message"] == "probe"
    assert entry["level"] == "debug"
    shown = f"field_{field}" if field in ("message", "time", "level", "logger") else field
    assert entry[shown] == "value"


@pytest.mark.parametrize("level", ["debug", "info", "warning", "error"])
def test_each_level_writes_one_json_line(level: str, captured: io.StringIO) -> None:
    getattr(logs.get("hookwise.test"), level)("hello", name="worker-1", job=7)
    (line,) = captured.getvalue().splitlines()
    assert json.loads(line) == {
        "time": json.loads(line)["time"],
        "level": level,
        "logger": "hookwise.test",
        "message": "hello",
        "name": "worker-1",
        "job": 7,
    }


def test_exception_carries_the_traceback(captured: io.StringIO) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        logs.get("hookwise.test").exception("failed", args="x")
    entry = json.loads(captured.getvalue())
    assert "ValueError: boom" in entry["exception"] and entry["args"] == "x"


def test_below_the_level_nothing_is_formatted() -> None:
    stream = io.StringIO()
    logs.configure("WARNING", stream)
    try:
        logs.get("hookwise.test").info("quiet", name="x")
    finally:
        logs.configure("INFO")
    assert stream.getvalue() == ""


def test_no_engine_module_passes_extra_or_makes_its_own_logger() -> None:
    """`extra=` to a stdlib logger is how a field clashes with LogRecord; only logs.py may."""
    offenders = []
    for path in sorted((REPO / "engine").rglob("*.py")):
        if path.name == "logs.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                if any(k.arg == "extra" for k in node.keywords):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: extra=")
                if isinstance(func, ast.Attribute) and func.attr == "getLogger":
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: getLogger")
    assert offenders == []
