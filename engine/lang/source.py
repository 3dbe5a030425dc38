"""Text to data plus a source map: YAML 1.2 booleans, duplicate keys, safe tags only.

PyYAML resolves plain scalars with YAML 1.1 rules, where `on`, `yes` and `off` are
booleans; GitHub Actions users write `on:` as a key, so we install YAML 1.2 core-schema
resolvers instead. We compose the node tree (which carries positions) and build plain
Python data from it ourselves, so no tag can ever build a Python object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from engine.lang.diagnostics import Diagnostic

Path = tuple[str | int, ...]

_BaseLoader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Yaml12Loader(_BaseLoader):  # type: ignore[misc]
    """A composer whose implicit scalar types are those of the YAML 1.2 core schema."""


_Yaml12Loader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
]:
    _Yaml12Loader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))

_STR = "tag:yaml.org,2002:str"
_SAFE_SCALAR_TAGS = {
    _STR,
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "!",
}
_MAX_NODES = 200_000  # alias expansion ("billion laughs") stops here
_IGNORE_COMMENT = re.compile(r"#\s*hookwise:\s*ignore=([a-z0-9_,\s-]+?)\s*$")


@dataclass(frozen=True)
class Position:
    """A 1-based line and column."""

    line: int
    column: int


@dataclass
class SourceMap:
    """Where each value (and each mapping key) of a document stands in its file."""

    values: dict[Path, Position] = field(default_factory=dict)
    keys: dict[Path, Position] = field(default_factory=dict)
    styles: dict[Path, str] = field(default_factory=dict)

    def value(self, path: Path) -> Position:
        """The position of the value at `path`, or of its nearest ancestor."""
        return self._lookup(self.values, path)

    def key(self, path: Path) -> Position:
        """The position of the key that holds `path` (the value itself for list items)."""
        return self._lookup(self.keys, path)

    def _lookup(self, table: dict[Path, Position], path: Path) -> Position:
        while path:
            found = table.get(path) or self.values.get(path)
            if found is not None:
                return found
            path = path[:-1]
        return self.values.get((), Position(1, 1))


@dataclass
class Document:
    """A parsed rule file: its data (None when unreadable), source map and problems."""

    path: str
    text: str
    data: Any
    source_map: SourceMap
    diagnostics: list[Diagnostic]
    ignores: dict[int, frozenset[str]]

    @property
    def lines(self) -> list[str]:
        """The file's lines, for reporters that quote the source."""
        return self.text.splitlines()


def decode(raw: bytes, path: str) -> tuple[str | None, Diagnostic | None]:
    """Bytes to text, or a `file-encoding` problem for binary or non-UTF-8 input."""
    if b"\x00" in raw:
        return None, Diagnostic(path, 1, 1, "file-encoding", "file is binary (it holds NUL bytes)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, Diagnostic(
            path, line, column, "file-encoding", f"file is not UTF-8 (byte 0x{raw[exc.start]:02x})"
        )
    return text, None


def parse_ignores(text: str) -> dict[int, frozenset[str]]:
    """Lines that end in `# hookwise: ignore=CHECK[,CHECK]`, with the checks they silence."""
    ignores: dict[int, frozenset[str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if "hookwise:" not in line:
            continue
        found = _IGNORE_COMMENT.search(line)
        if found:
            names = {name.strip() for name in found.group(1).split(",") if name.strip()}
            ignores[number] = frozenset(names)
    return ignores


def load_document(text: str, path: str) -> Document:
    """Parse YAML text into plain data with a source map, collecting every problem."""
    builder = _Builder(path)
    data: Any = None
    ignores = parse_ignores(text)
    try:
        node = yaml.compose(text, Loader=_Yaml12Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = (exc.problem or exc.context or "malformed YAML").strip()
        if "expected a single document" in f"{exc.context} {exc.problem}":
            problem = "a rule file holds one YAML document, found a second (`---`)"
        builder.problem(Position(line, column), "yaml-syntax", f"invalid YAML: {problem}")
        return Document(path, text, None, builder.map, builder.diagnostics, ignores)
    except yaml.YAMLError as exc:  # reader errors: control characters and the like
        builder.problem(Position(1, 1), "yaml-syntax", f"invalid YAML: {exc}")
        return Document(path, text, None, builder.map, builder.diagnostics, ignores)
    if node is None:
        builder.problem(Position(1, 1), "empty-file", "file is empty; a rule file holds one rule")
        return Document(path, text, None, builder.map, builder.diagnostics, ignores)
    try:
        data = builder.build(node, ())
    except _TooLarge:
        builder.problem(
            builder.map.value(()), "yaml-syntax", "invalid YAML: aliases expand past the size limit"
        )
        data = None
    if data is not None and not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a {_type_name(data)}"
        builder.problem(
            builder.map.value(()),
            "not-a-mapping",
            f"a rule file must be a mapping with name, on and nodes; found {kind}",
        )
        data = None
    return Document(path, text, data, builder.map, builder.diagnostics, ignores)


class _TooLarge(Exception):
    pass


class _Builder:
    """Turns composed YAML nodes into dicts, lists and scalars, recording positions."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.map = SourceMap()
        self.diagnostics: list[Diagnostic] = []
        self.count = 0
        self.active: set[int] = set()

    def problem(self, where: Position, check: str, message: str) -> None:
        self.diagnostics.append(Diagnostic(self.path, where.line, where.column, check, message))

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        if self.count > _MAX_NODES:
            raise _TooLarge
        where = Position(node.start_mark.line + 1, node.start_mark.column + 1)
        self.map.values[path] = where
        if id(node) in self.active:
            self.problem(where, "yaml-syntax", "invalid YAML: an alias refers to itself")
            return None
        if isinstance(node, yaml.ScalarNode):
            if node.style:
                self.map.styles[path] = node.style
            return self._scalar(node, where)
        if node.tag not in ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"):
            self.problem(where, "yaml-tag", f"YAML tag {_short_tag(node.tag)} is not allowed")
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            assert isinstance(node, yaml.MappingNode)
            return self._mapping(node, path)
        finally:
            self.active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, Position] = {}
        for key_node, value_node in node.value:
            key_where = Position(key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_where, "bad-type", "a mapping key must be a plain value")
                continue
            key_value = self._scalar(key_node, key_where)
            key = (
                "null"
                if key_value is None
                else str(key_value).lower()
                if isinstance(key_value, bool)
                else str(key_value)
            )
            if key in first_seen:
                earlier = first_seen[key]
                self.problem(
                    key_where,
                    "duplicate-key",
                    f'key "{key}" is already defined at line {earlier.line}, '
                    f"column {earlier.column}",
                )
                continue
            first_seen[key] = key_where
            self.map.keys[(*path, key)] = key_where
            result[key] = self.build(value_node, (*path, key))
        return result

    def _scalar(self, node: yaml.ScalarNode, where: Position) -> Any:
        tag, value = node.tag, node.value
        if tag not in _SAFE_SCALAR_TAGS:
            self.problem(where, "yaml-tag", f"YAML tag {_short_tag(tag)} is not allowed")
            return value
        if tag in (_STR, "!"):
            return value
        if tag.endswith(":bool"):
            return value.lower() == "true"
        if tag.endswith(":null"):
            return None
        if tag.endswith(":int"):
            return _to_int(value)
        return _to_float(value)


def _to_int(text: str) -> int:
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text)


def _to_float(text: str) -> float:
    lowered = text.lower()
    if lowered.endswith(".inf"):
        return float("-inf") if text.startswith("-") else float("inf")
    if lowered == ".nan":
        return float("nan")
    return float(text)


def _short_tag(tag: str) -> str:
    return "!!" + tag[len("tag:yaml.org,2002:") :] if tag.startswith("tag:yaml.org,2002:") else tag


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "mapping"


type_name = _type_name
