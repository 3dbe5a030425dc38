"""Checks of each node against its node type: `uses` names a registered type, `with` fits its
inputs schema. Only the types' declarations are read; no node implementation is loaded.
"""

from __future__ import annotations

from typing import Any

from engine.declarations.registry import NodeType, Registry
from engine.expr.parse import ExpressionError, has_expression, single_expression
from engine.lang.checks.base import DocumentChecker
from engine.lang.schema_errors import schema_diagnostics
from engine.text import suggest


class NodeChecker(DocumentChecker):
    """`uses` and `with`."""

    registry: Registry

    def node_type(self, node_id: str, spec: dict[str, Any]) -> NodeType | None:
        """The node's type, reporting an unknown `uses` with the closest name."""
        uses = spec.get("uses")
        if not isinstance(uses, str):
            return None
        found = self.registry.get(uses)
        if found is None:
            self.at_value(
                ("nodes", node_id, "uses"),
                "unknown-node-type",
                f'unknown node type "{uses}"{suggest(uses, self.registry.names())}',
            )
        return found

    def inputs(self, node_id: str, node_type: NodeType, with_: dict[str, Any]) -> None:
        """Check `with` against the type's inputs; values written as expressions pass."""
        validator = self.registry.input_validator(node_type.name)
        errors = [
            e
            for e in validator.iter_errors(with_)
            if not _under_expression(with_, list(e.absolute_path))
        ]
        if errors:
            self.diagnostics.extend(
                schema_diagnostics(
                    errors,
                    file=self.doc.path,
                    source_map=self.doc.source_map,
                    base=("nodes", node_id, "with"),
                    subject=f'node "{node_id}" ({node_type.name})',
                )
            )
        self.team_slugs(node_id, with_)

    def team_slugs(self, node_id: str, with_: dict[str, Any]) -> None:
        """`team_reviewers` takes a team's slug; `org/slug` is the `teams:` filter's form."""
        teams = with_.get("team_reviewers")
        if not isinstance(teams, list):
            return
        for index, team in enumerate(teams):
            if isinstance(team, str) and "/" in team and "${{" not in team:
                slug = team.rsplit("/", 1)[1]
                self.at_value(
                    ("nodes", node_id, "with", "team_reviewers", index),
                    "team-slug",
                    f'team_reviewers entry "{team}": GitHub takes the team\'s slug alone '
                    f'(the organisation is the repository\'s); did you mean "{slug}"? '
                    "(the teams: filter is the one written org/slug)",
                )


def _under_expression(value: Any, path: list[Any]) -> bool:
    """Whether `path` in `value` is, or lies under, a value written as one expression."""
    current = value
    for part in [None, *path]:
        if part is not None:
            try:
                current = current[part]
            except (KeyError, IndexError, TypeError):
                return False
        if isinstance(current, str) and has_expression(current):
            try:
                if single_expression(current) is not None:
                    return True
            except ExpressionError:
                return False
    return False
