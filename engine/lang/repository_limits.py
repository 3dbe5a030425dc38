"""What one repository's rules may cost (HOOKWISE_REPO_RULES_* settings), and the problems
a rule file in a checkout's `.github/hookwise/` has against those limits: `hookwise validate`
and the server apply the same ones."""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.expr.parse import ExpressionError, parse_condition
from engine.expr.tree import Call, Literal, walk
from engine.lang.diagnostics import Diagnostic

RULES_DIR = ".github/hookwise"
RULE_SUFFIXES = (".yaml", ".yml")
_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)


@dataclass(frozen=True)
class RepositoryLimits:
    """What one repository's rules may cost (HOOKWISE_REPO_RULES_* settings)."""

    files: int = 50
    file_bytes: int = 64 * 1024
    expression_chars: int = 2000
    regex_chars: int = 256


def is_repository_file(path: str) -> bool:
    """Whether a local path lies in a checkout's `.github/hookwise/` (validate applies the
    repository limits there)."""
    normal = path.replace("\\", "/")
    return normal.startswith(RULES_DIR + "/") or f"/{RULES_DIR}/" in normal


def repository_file_problems(
    path: str, raw: bytes, limits: RepositoryLimits | None = None
) -> list[Diagnostic]:
    """For `hookwise validate`: a file in a checkout's `.github/hookwise/` is held to the
    limits the server applies to it (nothing for other files)."""
    if not is_repository_file(path):
        return []
    limits = limits or RepositoryLimits()
    if len(raw) > limits.file_bytes:
        message = (
            f"the file has {len(raw):,} bytes; a rule file may have at most {limits.file_bytes:,}"
        )
        return [Diagnostic(path, 1, 1, "repository-limit", message)]
    return limit_problems(path, raw, limits)


def limit_problems(path: str, raw: bytes, limits: RepositoryLimits) -> list[Diagnostic]:
    """Expressions and `matches()` patterns beyond the limits, at their line and column."""
    text = raw.decode("utf-8", "replace")
    problems = []
    for found in _EXPRESSION.finditer(text):
        line = text.count("\n", 0, found.start()) + 1
        column = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
        body = found.group(1)
        if len(body) > limits.expression_chars:
            problems.append(
                Diagnostic(
                    path,
                    line,
                    column,
                    "repository-limit",
                    f"an expression of {len(body):,} characters; a repository rule's "
                    f"expressions may have at most {limits.expression_chars:,}",
                )
            )
            continue
        try:
            expr = parse_condition("${{" + body + "}}")
        except ExpressionError:
            continue  # the rule's own checks report it
        for node in walk(expr):
            pattern = _regex_literal(node)
            if pattern is not None and len(pattern) > limits.regex_chars:
                problems.append(
                    Diagnostic(
                        path,
                        line,
                        column,
                        "repository-limit",
                        f"a matches() pattern of {len(pattern)} characters; a "
                        f"repository rule's patterns may have at most {limits.regex_chars}",
                    )
                )
    return problems


def _regex_literal(node: object) -> str | None:
    if isinstance(node, Call) and node.name == "matches" and len(node.args) == 2:
        pattern = node.args[1]
        if isinstance(pattern, Literal) and isinstance(pattern.value, str):
            return pattern.value
    return None
