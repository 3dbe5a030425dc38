"""A run's nodes laid out for drawing (pure): layers by dependency depth, edges between them.

The page draws it as SVG: one box per node, coloured by its status, an arrow per `needs`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

BOX_WIDTH = 200
BOX_HEIGHT = 44
GAP_X = 60
GAP_Y = 22
MARGIN = 12


@dataclass(frozen=True)
class Box:
    """One node: where it is drawn and what it says."""

    id: str
    uses: str
    status: str
    x: int
    y: int
    width: int = BOX_WIDTH
    height: int = BOX_HEIGHT


@dataclass(frozen=True)
class Arrow:
    """An edge from a needed node to the node that needs it."""

    x1: int
    y1: int
    x2: int
    y2: int


@dataclass
class Layout:
    """The drawing of one run."""

    boxes: list[Box] = field(default_factory=list)
    arrows: list[Arrow] = field(default_factory=list)
    width: int = 0
    height: int = 0


def layout(nodes: Sequence[Mapping[str, Any]], needs: Mapping[str, Sequence[str]]) -> Layout:
    """Place the recorded nodes (id, uses, status) in columns by depth along `needs`.

    Nodes the rule no longer declares keep the record's order in the first column; needs
    naming nodes that did not run are left out.
    """
    ids = [str(n["id"]) for n in nodes]
    known = set(ids)
    depth: dict[str, int] = {}

    def depth_of(node: str, seen: frozenset[str] = frozenset()) -> int:
        if node in depth:
            return depth[node]
        parents = [p for p in needs.get(node, ()) if p in known and p not in seen]
        found = 1 + max((depth_of(p, seen | {node}) for p in parents), default=-1)
        depth[node] = found
        return found

    columns: dict[int, list[str]] = {}
    for node in ids:
        columns.setdefault(depth_of(node), []).append(node)
    drawing = Layout()
    place: dict[str, Box] = {}
    by_id = {str(n["id"]): n for n in nodes}
    for column, members in sorted(columns.items()):
        for row, node in enumerate(members):
            item = by_id[node]
            box = Box(
                id=node,
                uses=str(item.get("uses") or ""),
                status=str(item.get("status") or "pending"),
                x=MARGIN + column * (BOX_WIDTH + GAP_X),
                y=MARGIN + row * (BOX_HEIGHT + GAP_Y),
            )
            place[node] = box
            drawing.boxes.append(box)
    for node in ids:
        for parent in needs.get(node, ()):
            if parent in place:
                start, end = place[parent], place[node]
                drawing.arrows.append(
                    Arrow(
                        start.x + start.width,
                        start.y + start.height // 2,
                        end.x,
                        end.y + end.height // 2,
                    )
                )
    drawing.width = max((b.x + b.width for b in drawing.boxes), default=0) + MARGIN
    drawing.height = max((b.y + b.height for b in drawing.boxes), default=0) + MARGIN
    return drawing
