"""Node types for tests of the interpreter: sleeping, flaky and gated nodes."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from engine.declarations.registry import NodeType, Registry
from engine.nodes import builtin_registry
from engine.nodes.context import NodeContext, NodeError

ATTEMPTS: Counter[str] = Counter()
STARTED: list[str] = []
FINISHED: list[str] = []
TIMELINE: list[str] = []  # "start:a", "end:a" in the order they happened


async def _sleep(ctx: NodeContext) -> dict[str, Any]:
    STARTED.append(ctx.node_id)
    TIMELINE.append(f"start:{ctx.node_id}")
    await asyncio.sleep(float(ctx.inputs.get("seconds", 0)))
    FINISHED.append(ctx.node_id)
    TIMELINE.append(f"end:{ctx.node_id}")
    return {"slept": ctx.inputs.get("seconds", 0)}


async def _flaky(ctx: NodeContext) -> dict[str, Any]:
    key = f"{ctx.delivery}:{ctx.node_id}"
    ATTEMPTS[key] += 1
    if ATTEMPTS[key] <= int(ctx.inputs["failures"]):
        raise NodeError(
            f"flaky failure {ATTEMPTS[key]}", retryable=bool(ctx.inputs.get("retryable", True))
        )
    return {"attempts": ATTEMPTS[key]}


def _type(name: str, run: Any, props: dict[str, Any], outputs: tuple[str, ...]) -> NodeType:
    schema = {"type": "object", "additionalProperties": False, "properties": props}
    return NodeType(name, f"test node {name}", schema, outputs, run=run)


def test_registry() -> Registry:
    """The built-in node types plus test.sleep and test.flaky."""
    registry = builtin_registry()
    registry.register(_type("test.sleep", _sleep, {"seconds": {"type": "number"}}, ("slept",)))
    registry.register(
        _type(
            "test.flaky",
            _flaky,
            {"failures": {"type": "integer"}, "retryable": {"type": "boolean"}},
            ("attempts",),
        )
    )
    return registry


async def started(count: int) -> None:
    """Yield to the loop until `count` sleep nodes have started (no wall-clock waits)."""
    while len(STARTED) < count:
        await asyncio.sleep(0)


def reset() -> None:
    """Forget what earlier tests recorded."""
    ATTEMPTS.clear()
    STARTED.clear()
    FINISHED.clear()
    TIMELINE.clear()
