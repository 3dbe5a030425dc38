"""Node types: their declarations (specs) and implementations (core, github)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def implementations() -> dict[str, Callable[..., Any]]:
    """Built-in node type name -> its async run function."""
    from engine.nodes import core, github

    return {**core.IMPLEMENTATIONS, **github.IMPLEMENTATIONS}
