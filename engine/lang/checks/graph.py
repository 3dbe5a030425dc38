"""Checks of the node graph: `needs` that name real nodes, no cycles, and who runs before whom.

GitHub Actions' jobs rules: `needs` names other nodes; the graph must be acyclic. The
ancestors found here are kept in the compiled rule, so the scheduler never recomputes them.
"""

from __future__ import annotations

from typing import Any

from engine.lang.checks.base import DocumentChecker, as_list
from engine.text import suggest


class GraphChecker(DocumentChecker):
    """`needs` and cycles."""

    def needs(self, data: dict[str, Any]) -> dict[str, list[str]]:
        """Each node's valid `needs`, reporting unknown ones and self-needs."""
        ids = [k for k, v in data.items() if isinstance(v, dict)]
        needs: dict[str, list[str]] = {}
        for node_id in ids:
            raw = data[node_id].get("needs")
            needs[node_id] = []
            for i, need in enumerate(as_list(raw) or []):
                if not isinstance(need, str):
                    continue
                path = (
                    ("nodes", node_id, "needs")
                    if isinstance(raw, str)
                    else ("nodes", node_id, "needs", i)
                )
                if need == node_id:
                    self.at_value(path, "graph-cycle", f'node "{node_id}" needs itself')
                elif need not in data:
                    others = [other for other in ids if other != node_id]
                    hint = suggest(need, others) if others else f'; "{node_id}" is the only node'
                    self.at_value(
                        path,
                        "unknown-needs",
                        f'node "{node_id}" needs unknown node "{need}"{hint}',
                    )
                else:
                    needs[node_id].append(need)
        return needs

    def cycles(self, ids: list[str], needs: dict[str, list[str]]) -> list[str]:
        """Report each cycle once; return a topological order of the acyclic part."""
        state: dict[str, int] = {}
        order: list[str] = []
        reported: set[frozenset[str]] = set()

        def visit(node: str, stack: list[str]) -> None:
            state[node] = 1
            stack.append(node)
            for need in needs[node]:
                if state.get(need) == 1:
                    cycle = stack[stack.index(need) :]
                    key = frozenset(cycle)
                    if key not in reported:
                        reported.add(key)
                        start = min(cycle)
                        i = cycle.index(start)
                        ring = cycle[i:] + cycle[:i]
                        # needs point backwards, so the run order is the reverse
                        ring = [ring[0], *reversed(ring[1:])]
                        self.at_key(
                            ("nodes", start),
                            "graph-cycle",
                            "nodes form a cycle: " + " -> ".join([*ring, ring[0]]),
                        )
                elif state.get(need) is None:
                    visit(need, stack)
            stack.pop()
            state[node] = 2
            order.append(node)

        for node_id in ids:
            if node_id not in state:
                visit(node_id, [])
        return order


def ancestors(ids: list[str], needs: dict[str, list[str]]) -> dict[str, frozenset[str]]:
    """Every node each node needs, directly or not (itself excluded, even in a cycle)."""
    result: dict[str, frozenset[str]] = {}
    for node_id in ids:
        seen: set[str] = set()
        stack = list(needs[node_id])
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            stack.extend(needs.get(current, []))
        seen.discard(node_id)
        result[node_id] = frozenset(seen)
    return result
