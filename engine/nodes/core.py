"""The core node types: core.log, core.set, core.fail."""

from __future__ import annotations

from typing import Any

from engine.expr.evaluate import to_string
from engine.nodes.context import NodeContext, NodeError


async def core_log(ctx: NodeContext) -> dict[str, Any]:
    """Write `message` into the run record."""
    message = to_string(ctx.inputs.get("message"))
    ctx.log(message)
    return {"message": message}


async def core_set(ctx: NodeContext) -> dict[str, Any]:
    """The node's outputs are the (rendered) `outputs` map."""
    outputs = ctx.inputs.get("outputs") or {}
    if not isinstance(outputs, dict):
        raise NodeError("outputs must be a mapping")
    return dict(outputs)


async def core_fail(ctx: NodeContext) -> dict[str, Any]:
    """Fail with `message`."""
    raise NodeError(to_string(ctx.inputs.get("message")) or "core.fail")


IMPLEMENTATIONS = {"core.log": core_log, "core.set": core_set, "core.fail": core_fail}
