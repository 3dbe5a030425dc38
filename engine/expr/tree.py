"""The expression tree: the nodes the parser builds, the functions the language has, walking.

`parse` builds these frozen nodes once, when a rule loads; `evaluate` and `check` walk them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

# name -> (min args, max args or None for any)
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "contains": (2, 2),
    "startswith": (2, 2),
    "endswith": (2, 2),
    "format": (1, None),
    "join": (1, 2),
    "tojson": (1, 1),
    "fromjson": (1, 1),
    "success": (0, 0),
    "failure": (0, 0),
    "always": (0, 0),
    "cancelled": (0, 0),
    "matches": (2, 2),
    "length": (1, 1),
    "within": (1, 2),
    "ago": (1, 1),
}
FUNCTION_NAMES = {
    "contains": "contains",
    "startswith": "startsWith",
    "endswith": "endsWith",
    "format": "format",
    "join": "join",
    "tojson": "toJSON",
    "fromjson": "fromJSON",
    "success": "success",
    "failure": "failure",
    "always": "always",
    "cancelled": "cancelled",
    "matches": "matches",
    "length": "length",
    "within": "within",
    "ago": "ago",
}
# The contexts key of the decision time (seconds since the epoch) that within() reads: a NUL
# cannot appear in an expression, so no rule can read or set it
DECISION_TIME = "\x00at"
STATUS_FUNCTIONS = frozenset({"success", "failure", "always", "cancelled"})


# --- the tree -------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    """null, a boolean, a number or a string."""

    value: object
    pos: int


@dataclass(frozen=True)
class Context:
    """A context name: event, github, vars, rule or nodes."""

    name: str  # as written; contexts are case-insensitive
    pos: int


@dataclass(frozen=True)
class Property:
    """Property access `a.b`."""

    target: Expr
    name: str
    pos: int


@dataclass(frozen=True)
class Index:
    """Index access `a[b]`."""

    target: Expr
    index: Expr
    pos: int


@dataclass(frozen=True)
class Star:
    """The object filter `a.*` / `a[*]`: the values of an object or array."""

    target: Expr
    pos: int


@dataclass(frozen=True)
class Call:
    """A function call."""

    name: str  # lower-cased; function names are case-insensitive
    args: tuple[Expr, ...]
    pos: int


@dataclass(frozen=True)
class Not:
    """Logical not `!a`."""

    operand: Expr
    pos: int


@dataclass(frozen=True)
class Binary:
    """A comparison or a logical `&&` / `||`."""

    op: str
    left: Expr
    right: Expr
    pos: int


Expr = Literal | Context | Property | Index | Star | Call | Not | Binary

@dataclass(frozen=True)
class Segment:
    """A piece of a template: literal text, or an expression with its offset in the string."""

    text: str
    offset: int
    expr: Expr | None = None


# --- walking --------------------------------------------------------------------------


def walk(expr: Expr) -> Iterator[Expr]:
    """Every node of an expression tree, parents before children."""
    yield expr
    if isinstance(expr, Property | Star):
        yield from walk(expr.target)
    elif isinstance(expr, Index):
        yield from walk(expr.target)
        yield from walk(expr.index)
    elif isinstance(expr, Call):
        for arg in expr.args:
            yield from walk(arg)
    elif isinstance(expr, Not):
        yield from walk(expr.operand)
    elif isinstance(expr, Binary):
        yield from walk(expr.left)
        yield from walk(expr.right)


def uses_status_function(expr: Expr) -> bool:
    """Whether the expression calls success(), failure(), always() or cancelled()."""
    return any(isinstance(n, Call) and n.name in STATUS_FUNCTIONS for n in walk(expr))
