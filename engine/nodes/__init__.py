"""Node types: declarations (`registry`, `specs`: inputs schema, outputs, description) and
implementations (`core`, `github`: async functions given a `context.NodeContext`).

Declarations are pure data that validation reads; implementations are edges that call GitHub
through the context. `implementations()` is the only door from declarations to code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.nodes.registry import Registry, declared_registry


def implementations() -> dict[str, Callable[..., Any]]:
    """Built-in node type name -> its async run function."""
    from engine.nodes import core, github

    return {**core.IMPLEMENTATIONS, **github.IMPLEMENTATIONS}


def builtin_registry() -> Registry:
    """The built-in node types with their code (no entry points)."""
    registry = declared_registry()
    for name, run in implementations().items():
        registry.implement(name, run)
    return registry


def default_registry(*, implementations: bool = True) -> Registry:
    """Built-in node types plus those installed through the `hookwise.nodes` entry points.

    Without `implementations` the built-in types are declarations only (validation never
    loads node code; a third-party entry point still loads its own module).
    """
    registry = builtin_registry() if implementations else declared_registry()
    registry.load_entry_points()
    return registry
