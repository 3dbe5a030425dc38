"""The rooms of `engine/` and the one direction of imports between them (docs/architecture.md).

Each module belongs to one layer; a layer may import only the layers listed for it. The pure
core (expr, lang, match and run's scheduler) also imports no I/O library and calls no open(),
eval() or exec(). Fixture modules under tests/data/architecture/ prove the check can fail.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import DATA, REPO, shared

ENGINE = REPO / "engine"

# layer -> the module prefixes it owns (longest prefix wins)
OWNERS: dict[str, tuple[str, ...]] = {
    "base": ("engine.errors", "engine.text"),
    "api": ("engine",),  # engine/__init__.py: the public API re-exports
    "expr": ("engine.expr",),
    "declarations": ("engine.declarations",),
    "lang": ("engine.lang",),
    "match": ("engine.match",),
    "scheduler": ("engine.run.graph", "engine.run.record"),
    "github": ("engine.github",),
    "nodes": ("engine.nodes",),
    "run": ("engine.run",),
    "store": ("engine.store",),
    "settings": ("engine.settings",),
    "observe": ("engine.observe",),
    "workers": ("engine.workers",),
    "runtime": ("engine.runtime",),
    "edge": ("engine.edge",),
    "cli": ("engine.cli", "engine.__main__"),
}
CORE = ("base", "expr", "declarations", "lang", "match", "scheduler")
# layer -> the layers it may import (itself always allowed; importing the package `engine`
# itself, for __version__, is always allowed: Python loads it first in any case)
ALLOWED: dict[str, frozenset[str]] = {
    "base": frozenset(),
    "api": frozenset({"base", "lang"}),
    "expr": frozenset({"base"}),
    "declarations": frozenset({"base"}),
    "lang": frozenset({"base", "expr", "declarations"}),
    "match": frozenset({"base", "expr", "lang"}),
    "scheduler": frozenset({"base", "expr", "lang", "match"}),
    "github": frozenset({"base", "match", "lang"}),
    "nodes": frozenset({"base", "expr", "lang", "match", "declarations", "github"}),
    "run": frozenset(
        {"base", "expr", "lang", "match", "scheduler", "declarations", "nodes", "github"}
    ),
    "store": frozenset({"base"}),
    "settings": frozenset({"base", "github"}),
    "observe": frozenset({"base"}),
    "workers": frozenset(set(OWNERS) - {"workers", "runtime", "edge", "cli"}),
    "runtime": frozenset(set(OWNERS) - {"runtime", "edge", "cli"}),
    "edge": frozenset(set(OWNERS) - {"edge", "cli"}),
    "cli": frozenset(set(OWNERS) - {"cli"}),
}
# libraries that do I/O or reach the network, the database or the process
IO_LIBRARIES = frozenset(
    {
        "httpx",
        "sqlite3",
        "psycopg",
        "psycopg_pool",
        "socket",
        "http",
        "urllib.request",
        "requests",
        "asyncio",
        "subprocess",
        "os",
        "fastapi",
        "starlette",
        "uvicorn",
        "jwt",
    }
)
# the modules of the core that touch files: reading rule files and caching compiled ones
CORE_IO_EXEMPT = frozenset({"engine.lang.files", "engine.lang.cache"})


def layer_of(module: str) -> str:
    """The layer that owns a module: its longest owning prefix."""
    best, length = "", -1
    for layer, prefixes in OWNERS.items():
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > length:
                best, length = layer, len(prefix)
    return best


def imports_of(module: str, source: str, *, is_package: bool = False) -> set[str]:
    """Every module a source imports, relative imports resolved against `module`."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            if node.module is None or node.level:
                found.update(f"{base}.{alias.name}" for alias in node.names)
            found.add(base)
    return found


@dataclass(frozen=True)
class Violation:
    module: str
    imported: str
    why: str


def check_module(module: str, source: str, *, is_package: bool = False) -> list[Violation]:
    """The imports of one module that point the wrong way, and calls the core may not make."""
    layer = layer_of(module)
    pure = layer in CORE and module not in CORE_IO_EXEMPT
    problems: list[Violation] = []
    for name in sorted(imports_of(module, source, is_package=is_package)):
        if name == "engine":
            continue
        if name.startswith("engine."):
            target = layer_of(name)
            if target != layer and target not in ALLOWED[layer]:
                problems.append(Violation(module, name, f"{layer} may not import {target}"))
        elif pure and (name in IO_LIBRARIES or name.split(".")[0] in IO_LIBRARIES):
            problems.append(Violation(module, name, f"the pure core ({layer}) does I/O"))
    if pure:
        for node in ast.walk(ast.parse(source)):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("open", "eval", "exec")
            ):
                problems.append(Violation(module, node.func.id, f"the core calls {node.func.id}()"))
    return problems


def engine_modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(ENGINE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found.append((name, path))
    return found


def test_every_module_has_a_layer() -> None:
    assert [name for name, _ in engine_modules() if layer_of(name) == ""] == []
    assert set(ALLOWED) == set(OWNERS)


@pytest.mark.parametrize(("module", "path"), engine_modules(), ids=lambda v: str(v))
def test_imports_point_one_way(module: str, path: Path) -> None:
    problems = check_module(module, path.read_text(), is_package=path.name == "__init__.py")
    assert problems == []


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("lang_imports_store.py", [("engine.store.sqlite", "lang may not import store")]),
        (
            "github_imports_nodes.py",
            [
                ("engine.nodes.context", "github may not import nodes"),
                ("engine.settings", "github may not import settings"),
            ],
        ),
        ("match_imports_httpx.py", [("httpx", "the pure core (match) does I/O")]),
    ],
)
def test_a_wrong_import_is_caught(fixture: str, expected: list[tuple[str, str]]) -> None:
    source = (DATA / "architecture" / fixture).read_text()
    module = source.splitlines()[0].removeprefix("# module: ").strip()
    found = [(v.imported, v.why) for v in check_module(module, source)]
    assert found == expected


def test_relative_imports_are_resolved() -> None:
    found = imports_of("engine.match.badfilter", "from . import events\nfrom ..lang import model")
    assert {"engine.match.events", "engine.lang.model"} <= found


def test_validation_loads_no_node_implementation() -> None:
    code = (
        "import sys\n"
        "from engine.cli import main\n"
        "code = main(['validate', 'rules/'])\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('engine.'))\n"
        "print(code, ' '.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    code_text, _, modules = result.stdout.strip().splitlines()[-1].partition(" ")
    loaded = set(modules.split())
    assert code_text == "0"
    assert "engine.declarations.specs" in loaded
    assert "engine.declarations.specs" in loaded
    assert {"engine.nodes.core", "engine.nodes.pulls", "engine.github.client"} & loaded == set()
    rooms = ("engine.edge", "engine.workers", "engine.runtime", "engine.store")
    assert {m for m in loaded if m.startswith(rooms)} == set()


def test_no_module_grows_past_reason() -> None:
    sizes = {
        str(path.relative_to(REPO)): len(path.read_text().splitlines())
        for _, path in engine_modules()
    }
    assert {name: n for name, n in sizes.items() if n > 420} == {}


def test_top_level_holds_rooms_and_a_handful_of_modules() -> None:
    modules = sorted(p.name for p in ENGINE.glob("*.py"))
    assert modules == [
        "__init__.py", "__main__.py", "errors.py", "runtime.py", "settings.py", "text.py"
    ]


def test_every_room_says_what_it_owns() -> None:
    for package in sorted(p.parent for p in ENGINE.rglob("__init__.py")):
        tree = ast.parse((package / "__init__.py").read_text())
        doc = ast.get_docstring(tree) or ""
        assert len(doc.split()) >= 15, f"{package.relative_to(REPO)} needs a docstring"


def test_shipped_event_catalogue_is_generated_from_shared() -> None:
    sys.path.insert(0, str(REPO / "tools"))
    try:
        from gen_catalogue import generate
    finally:
        sys.path.pop(0)
    ours = json.loads((ENGINE / "data" / "webhook-events.json").read_text())
    expected = generate(json.loads(shared("github", "webhook-events.json").read_text()))
    assert ours == expected, "engine/data/webhook-events.json is stale: run `make catalogue`"


def test_shipped_example_payloads_are_generated_from_shared() -> None:
    sys.path.insert(0, str(REPO / "tools"))
    try:
        from gen_examples import encode, generate
    finally:
        sys.path.pop(0)
    expected = encode(generate(shared("github", "webhooks")))
    ours = (ENGINE / "data" / "webhook-examples.json.gz").read_bytes()
    assert ours == expected, "engine/data/webhook-examples.json.gz is stale: run `make examples`"


def test_shipped_payload_shapes_are_generated_from_githubs_descriptions() -> None:
    import hashlib

    sys.path.insert(0, str(REPO / "tools"))
    try:
        from gen_payloads import SOURCE, generate
    finally:
        sys.path.pop(0)
    assert SOURCE.exists(), "run `make test`, which fetches @octokit/openapi-webhooks first"
    raw = SOURCE.read_bytes()
    ours = json.loads((ENGINE / "data" / "webhook-payloads.json").read_text())
    expected = generate(json.loads(raw), hashlib.sha256(raw).hexdigest())
    assert ours == expected, "engine/data/webhook-payloads.json is stale: run `make payloads`"


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the engine modules it imports (anywhere in it: at the top, in a function, or
    for type checking only); `from engine.x import y` counts as `engine.x.y` when that is a
    module, else as `engine.x`."""
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                for alias in node.names:
                    found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
        graph[module] = {m for m in found if m in modules and m not in (module, "engine")}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: each strongly connected group of two or more modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(graph[module]):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                top = stack.pop()
                group.append(top)
                if top == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_import_circles() -> None:
    assert circles(import_graph(dict(engine_modules()))) == []


def test_an_import_circle_is_caught(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("from engine.b import thing\n")
    (tmp_path / "b.py").write_text("def f():\n    from engine import a\n")
    (tmp_path / "c.py").write_text("from engine.a import x\n")
    modules = {name: tmp_path / f"{name.rpartition('.')[2]}.py" for name in ("engine.a", "engine.b", "engine.c")}
    assert circles(import_graph(modules)) == [["engine.a", "engine.b"]]


def _declared_dependencies() -> set[str]:
    import re
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = (re.split(r"[\[<>=!~; ]", req, maxsplit=1)[0] for req in project["dependencies"])
    return {name.lower().replace("_", "-") for name in names}


def _imported_distributions() -> set[str]:
    from importlib.metadata import packages_distributions

    owners = packages_distributions()
    found: set[str] = set()
    for module, path in engine_modules():
        for name in imports_of(module, path.read_text(), is_package=path.name == "__init__.py"):
            top = name.split(".")[0]
            if top == "engine" or top in sys.stdlib_module_names:
                continue
            found.update(d.lower().replace("_", "-") for d in owners.get(top, [top]))
    return found


# distributions that are data, read by the standard library rather than imported
DATA_ONLY = {"tzdata"}  # zoneinfo's IANA database where the system has none


def test_every_imported_package_is_declared_and_every_declared_one_imported() -> None:
    declared, imported = _declared_dependencies(), _imported_distributions()
    assert sorted(imported - declared) == []
    assert sorted(declared - imported - DATA_ONLY) == []


def _architecture_rows() -> list[tuple[list[str], list[str]]]:
    """(rooms, names) of each row of docs/architecture.md's rooms table: the rooms of its first
    column (`expr/`, `run/graph`; "top level" is engine/ itself) and the lower-case names in
    backticks of the second (functions are written with `()` and so are not names)."""
    import re

    text = (REPO / "docs" / "architecture.md").read_text()
    table = text.split("## The rooms", 1)[1].split("\n\n", 2)[2].split("\n\n", 1)[0]
    rows = []
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rooms = re.findall(r"`([^`]+)`", cells[0]) or [""]
        names = [n for n in re.findall(r"`([^`]+)`", cells[1]) if re.fullmatch(r"[a-z_]+/?", n)]
        rows.append((rooms, names))
    return rows


def _resolve(room: str, name: str) -> Path | None:
    """The file or folder a name of the table means in its room (or a room's subpackage)."""
    base = ENGINE / room.rstrip("/") if room else ENGINE
    if room and not room.endswith("/"):  # a module named as its own room: run/graph
        base = base.parent
    folders = [base, *(p for p in base.iterdir() if p.is_dir() and (p / "__init__.py").exists())]
    for folder in folders:
        for candidate in (folder / f"{name.rstrip('/')}.py", folder / name.rstrip("/")):
            if candidate.exists():
                return candidate
    return None


def test_architecture_doc_names_every_module_and_only_modules_that_exist() -> None:
    named: set[Path] = set()
    missing = []
    for rooms, names in _architecture_rows():
        for room in rooms:
            if room:
                path = ENGINE / room.rstrip("/")
                found = path if path.is_dir() else path.with_suffix(".py")
                assert found.exists(), f"docs/architecture.md names a room {room} that does not exist"
                named.add(found)
        for name in names:
            found_any = [p for p in (_resolve(room, name) for room in rooms) if p is not None]
            if not found_any:
                missing.append(f"{name} in {', '.join(rooms) or 'engine/'}")
            named.update(found_any)
    assert missing == [], "docs/architecture.md names modules that do not exist"
    modules = {p for p in ENGINE.rglob("*.py") if p.name != "__init__.py"}
    unnamed = sorted(str(p.relative_to(ENGINE)) for p in modules if p not in named)
    assert unnamed == [], "modules docs/architecture.md does not name"
