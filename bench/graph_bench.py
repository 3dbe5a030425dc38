"""A graph of 5 independent nodes that each wait 200 ms: wall time against the serial sum."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from bench.common import header
from engine.declarations.registry import NodeType
from engine.lang.validate import check_source
from engine.match.events import parse_event
from engine.nodes import builtin_registry
from engine.run.executor import ExecutionOptions, execute

NODES = 5
WAIT = 0.2


async def _wait(ctx: Any) -> dict[str, Any]:
    await asyncio.sleep(float(ctx.inputs["seconds"]))
    return {}


def run() -> dict[str, str]:
    """Run the benchmark and print its figures."""
    header(f"graph: {NODES} independent nodes of {WAIT * 1000:.0f} ms each")
    registry = builtin_registry()
    schema = {"type": "object", "properties": {"seconds": {"type": "number"}}}
    registry.register(NodeType("bench.wait", "wait", schema, (), run=_wait))
    nodes = {f"n{i}": {"uses": "bench.wait", "with": {"seconds": WAIT}} for i in range(NODES)}
    body = {"name": "fan", "on": {"events": ["issues"]}, "nodes": nodes}
    rule, _, problems = check_source(json.dumps(body).encode(), "fan.yaml", registry)
    assert rule is not None, problems
    event = parse_event("issues", {"action": "opened"})
    walls = []
    for _ in range(3):
        start = time.perf_counter()
        record = asyncio.run(execute(rule, event, registry, ExecutionOptions()))
        walls.append(time.perf_counter() - start)
        assert record.status == "success"
    wall = min(walls)
    serial = sum((n.finished_at or 0) - (n.started_at or 0) for n in record.nodes)
    print(f"wall time (best of 3):       {wall * 1000:7.0f} ms")
    print(f"serial sum of node times:    {serial * 1000:7.0f} ms ({NODES} x {WAIT * 1000:.0f} ms)")
    print(f"ratio wall / serial:         {wall / serial:7.2f} (1.0 would mean no concurrency)")
    return {
        "graph": f"graph, {NODES} nodes of {WAIT * 1000:.0f} ms in parallel: wall {wall * 1000:.0f} ms "
        f"vs serial {serial * 1000:.0f} ms: {wall / serial:.2f} (concurrency; 1.0 = none)"
    }


if __name__ == "__main__":
    run()
