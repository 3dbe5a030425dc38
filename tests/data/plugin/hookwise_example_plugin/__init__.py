"""A third-party node type: example.shout upper-cases its text."""

from __future__ import annotations

from typing import Any

from engine.declarations.registry import NodeType


async def shout(ctx: Any) -> dict[str, Any]:
    """Upper-case the `text` input."""
    loud = str(ctx.inputs["text"]).upper() + "!"
    ctx.log(loud)
    return {"loud": loud}


def node_types() -> list[NodeType]:
    """The node types this package provides."""
    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["text"],
        "properties": {"text": {"type": "string", "description": "What to shout"}},
    }
    return [NodeType("example.shout", "Shout the text", schema, ("loud",), run=shout)]
