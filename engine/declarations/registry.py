"""The one node-type registry: type name -> input schema, output names, description, code.

`validate`, the published JSON Schema and the interpreter all read this registry. Built-in
types are declared in engine.declarations.specs; third-party types come from the `hookwise.nodes`
entry-point group (each entry point yields a NodeType or an iterable of them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from importlib import metadata
from typing import Any

from jsonschema import Draft202012Validator

ENTRY_POINT_GROUP = "hookwise.nodes"


@dataclass(frozen=True)
class NodeType:
    """A node type: what `uses:` names."""

    name: str
    description: str
    inputs: dict[str, Any]  # JSON Schema of `with`, an object schema
    outputs: tuple[str, ...] = ()
    # For types whose outputs are chosen by the rule (core.set): the input naming them.
    outputs_from_input: str | None = None
    writes: bool = False  # writes to GitHub, so dry-run records instead of sending
    # What it asks of GitHub: the App permissions it needs ((name, "read" | "write"), as a
    # manifest's default_permissions names them) and the REST operations it may call
    # (operationIds of GitHub's OpenAPI description). `hookwise app manifest` reads these.
    permissions: tuple[tuple[str, str], ...] = ()
    operations: tuple[str, ...] = ()
    run: Callable[..., Any] | None = field(default=None, compare=False)

    def output_names(self, with_: dict[str, Any] | None) -> tuple[str, ...] | None:
        """The outputs a node of this type has, or None when they cannot be known."""
        if self.outputs_from_input is None:
            return self.outputs
        value = (with_ or {}).get(self.outputs_from_input)
        return tuple(value) if isinstance(value, dict) else None


class Registry:
    """Node types by name."""

    def __init__(self, types: Iterable[NodeType] = ()) -> None:
        self._types: dict[str, NodeType] = {}
        # per registry, not per process: two registries may declare one name differently
        self._validators: dict[str, Draft202012Validator] = {}
        for node_type in types:
            self.register(node_type)

    def register(self, node_type: NodeType) -> None:
        """Add a node type; a name can be registered once."""
        if node_type.name in self._types:
            raise ValueError(f"node type {node_type.name!r} is already registered")
        self._types[node_type.name] = node_type
        self._validators.pop(node_type.name, None)

    def implement(self, name: str, run: Callable[..., Any]) -> None:
        """Attach the code that runs a declared node type."""
        self._types[name] = replace(self._types[name], run=run)
        self._validators.pop(name, None)

    def input_validator(self, name: str) -> Draft202012Validator:
        """The compiled JSON Schema validator of a registered type's `with` (made once)."""
        validator = self._validators.get(name)
        if validator is None:
            validator = self._validators[name] = Draft202012Validator(self._types[name].inputs)
        return validator

    def get(self, name: str) -> NodeType | None:
        """The node type of that name, or None."""
        return self._types.get(name)

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(self._types)

    def __iter__(self) -> Iterator[NodeType]:
        return iter(self._types[name] for name in self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def load_entry_points(self) -> list[str]:
        """Register third-party node types from the `hookwise.nodes` group; return their names."""
        added: list[str] = []
        for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
            loaded = entry.load()
            produced = loaded() if callable(loaded) and not isinstance(loaded, NodeType) else loaded
            items = [produced] if isinstance(produced, NodeType) else list(produced)
            for node_type in items:
                self.register(node_type)
                added.append(node_type.name)
        return added
