"""Third-party node types load through the `hookwise.nodes` entry-point group."""

from __future__ import annotations

import asyncio
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.match.events import parse_event
from engine.nodes import default_registry
from engine.run.executor import ExecutionOptions, execute
from tests.conftest import DATA
from tests.rulekit import compile_rule


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(DATA / "plugin"),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    monkeypatch.syspath_prepend(str(target))
    importlib.invalidate_caches()
    return target


def test_plugin_node_type_is_registered_validated_and_run(installed_plugin: Path, cli) -> None:
    registry = default_registry()
    assert "example.shout" in registry
    rule = compile_rule(
        "name: loud\non:\n  events: [issues]\nnodes:\n"
        "  say:\n    uses: example.shout\n    with: {text: 'hi ${{ github.sender }}'}\n",
        registry=registry,
    )
    event = parse_event("issues", {"action": "opened", "sender": {"login": "mona", "type": "User"}})
    record = asyncio.run(execute(rule, event, registry, ExecutionOptions()))
    assert (record.status, record.node("say").outputs) == ("success", {"loud": "HI MONA!"})
    assert "say: HI MONA!" in record.logs


def test_plugin_inputs_are_checked_by_validate(installed_plugin: Path, cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: loud\non:\n  events: [issues]\nnodes:\n  say:\n    uses: example.shout\n    with: {txt: hi}\n"
    )
    code, out, _ = cli("validate", str(bad), "--format", "json")
    assert code == 1
    messages = [p["message"] for p in json.loads(out)["problems"]]
    # one mistake, one problem: the misspelt input is not also reported as the input missing
    assert messages == ['unknown input "txt" in node "say" (example.shout); did you mean "text"?']


def test_without_the_plugin_the_type_is_unknown() -> None:
    assert "example.shout" not in default_registry()
