"""Budgets on what a run may produce, so that one rule cannot fill the disk or the memory.

What a node adds to its run's record (its outputs, its log lines, the bodies of its GitHub
calls, its error) is measured when it finishes. A node over the per-node limit, or one that
takes its run past the per-run limit, fails with an error naming the limit, and what it
produced is stored truncated, saying so. Its dependents are skipped as after any failure.
Repository rules get tighter limits than server rules (docs/operations.md, "Budgets").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from engine.run.record import CallRecord, NodeRecord

KEEP = 1_000  # characters of a truncated log line, body or error that the record keeps
MAX_ERROR = 4_000  # an error message longer than this is cut (a core.fail of a huge value)


@dataclass(frozen=True)
class OutputLimits:
    """Bytes a node may add to its run's record, and bytes one run's record may hold."""

    node_bytes: int = 1 << 20
    run_bytes: int = 8 << 20
    who: str = "server rules"  # named in the error: whose limit it is

    def tighter(self, other: OutputLimits) -> OutputLimits:
        """The smaller of each limit (a repository rule's, bounded by the server's)."""
        return OutputLimits(
            min(self.node_bytes, other.node_bytes), min(self.run_bytes, other.run_bytes), other.who
        )


REPOSITORY_LIMITS = OutputLimits(node_bytes=256 << 10, run_bytes=1 << 20, who="repository rules")


def size_of(value: Any) -> int:
    """Bytes of a value as the record stores it (JSON)."""
    return len(orjson.dumps(value, default=str))


def shown(size: int) -> str:
    """1536 -> '1.5 KiB'."""
    value, unit = float(size), "bytes"
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            break
        value /= 1024
    return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"


def cut(text: str, limit: int = KEEP) -> str:
    """A text of at most about `limit` characters that says how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [truncated: {shown(len(text.encode()))} in all]"


def node_size(node: NodeRecord, logs: list[str], calls: list[CallRecord]) -> int:
    """What one node added to the record: outputs, its log lines, its calls' bodies, error."""
    return (
        size_of(node.outputs)
        + sum(len(line) for line in logs)
        + sum(size_of(call.body) for call in calls if call.body is not None)
        + len(node.error or "")
    )


def over_limit(size: int, used: int, limits: OutputLimits) -> str | None:
    """Why a node that added `size` bytes to a run holding `used` breaks a limit, or None."""
    if size > limits.node_bytes:
        return (
            f"the node produced {shown(size)}, over the limit of {shown(limits.node_bytes)} "
            f"per node for {limits.who}; its outputs were not kept"
        )
    if used + size > limits.run_bytes:
        return (
            f"the run's record would hold {shown(used + size)}, over the limit of "
            f"{shown(limits.run_bytes)} per run for {limits.who}; this node's outputs were not kept"
        )
    return None


def truncate(node: NodeRecord, logs: list[str], calls: list[CallRecord], why: str) -> None:
    """Keep what a node over its budget produced only in part, marked as such (in place)."""
    node.outputs = {"truncated": why}
    logs[:] = [cut(line) for line in logs]
    for call in calls:
        if call.body is not None and size_of(call.body) > KEEP:
            call.body = {"truncated": cut(orjson.dumps(call.body, default=str).decode())}
