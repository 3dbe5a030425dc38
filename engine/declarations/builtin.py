"""The built-in node types' declarations, assembled: what validation and the schema read."""

from __future__ import annotations

from engine.declarations.commands import COMMAND_TYPES
from engine.declarations.conditions import CONDITION_TYPES
from engine.declarations.permissions import with_needs
from engine.declarations.registry import Registry
from engine.declarations.specs import BUILTIN_TYPES


def declared_registry() -> Registry:
    """The built-in node types' declarations only: what validation and the schema need."""
    return Registry(with_needs(BUILTIN_TYPES + CONDITION_TYPES + COMMAND_TYPES))
