"""The core stays pure: no network, database, filesystem or environment access."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from tests.conftest import REPO, shared

CORE = [
    "diagnostics",
    "source",
    "schema",
    "catalogue",
    "model",
    "compile",
    "exprcheck",
    "patterns",
    "expressions",
    "validate",
    "checking",
    "triggers",
    "registry",
    "events",
    "matcher",
    "graph",
    "evaluate",
    "ingest",
    "exprcheck",
]
FORBIDDEN = {
    "httpx",
    "sqlite3",
    "socket",
    "urllib.request",
    "http",
    "requests",
    "asyncio",
    "os",
    "subprocess",
    "fastapi",
    "uvicorn",
    "engine.ruleset",
    "engine.web",
    "engine.cli",
}


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_no_io(module: str) -> None:
    tree = ast.parse((REPO / "engine" / f"{module}.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    assert (
        sorted(i for i in imported if i in FORBIDDEN or i.split(".")[0] in FORBIDDEN - {"engine"})
        == []
    )
    calls = {
        n.func.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }
    assert "open" not in calls and "eval" not in calls and "exec" not in calls


def test_shipped_event_catalogue_is_githubs() -> None:
    ours = json.loads((REPO / "engine" / "data" / "webhook-events.json").read_text())
    assert ours == json.loads(shared("github", "webhook-events.json").read_text())


def test_no_module_grows_past_reason() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in Path(REPO / "engine").rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 600} == {}
