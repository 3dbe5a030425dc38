"""Repository rules (docs/design.md §2.4): the files of one `.github/hookwise/`, checked under limits,
compiled with their source and scope, and merged with the organisation defaults. Pure.

A broken file is skipped, never silently: it comes back in `skipped` with why, and the other
files still count. Limits keep one repository from costing the others: how many files, how
large each is, how long one `${{ }}` expression and one `matches()` pattern may be.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from engine.declarations.registry import Registry
from engine.lang.diagnostics import Diagnostic, sort_diagnostics
from engine.lang.model import Rule, RuleSource, Scope
from engine.lang.repository_limits import RULES_DIR, RepositoryLimits, limit_problems
from engine.lang.validate import check_entry, duplicate_names

DEFAULTS_REPOSITORY = ".github"  # <owner>/.github holds the organisation defaults


@dataclass(frozen=True)
class Skipped:
    """A rule file left out, with why."""

    path: str
    reason: str


@dataclass
class RepositoryRules:
    """One repository's `.github/hookwise/` at one commit, checked."""

    source: RuleSource
    rules: list[Rule] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)  # every problem, for annotations


def scope_of(source: RuleSource) -> Scope | None:
    """Where rules from this source may act: their repository, or the owner's repositories."""
    if source.kind == "server" or source.repository is None:
        return None
    owner = source.repository.split("/", 1)[0]
    return Scope(owner, None if source.kind == "defaults" else source.repository)


def check_repository(
    files: Mapping[str, bytes],
    source: RuleSource,
    registry: Registry,
    limits: RepositoryLimits | None = None,
    *,
    too_many: Sequence[str] = (),
) -> RepositoryRules:
    """Check every file (path -> bytes); rules that pass carry `source` and their scope.

    `too_many`: paths left unread because the folder holds more than `limits.files` files.
    """
    limits = limits or RepositoryLimits()
    result = RepositoryRules(source)
    scope = scope_of(source)
    named = []
    for path in sorted(files):
        raw = files[path]
        if len(raw) > limits.file_bytes:
            reason = (
                f"the file has {len(raw):,} bytes; a rule file may have at most "
                f"{limits.file_bytes:,}"
            )
            result.skipped.append(Skipped(path, reason))
            result.diagnostics.append(Diagnostic(path, 1, 1, "repository-limit", reason))
            continue
        entry = check_entry(raw, path, registry)
        problems = list(entry.diagnostics) + limit_problems(path, raw, limits)
        result.diagnostics.extend(problems)
        named.append((path, entry))
        errors = [d for d in problems if d.severity == "error"]
        if errors:
            first = errors[0]
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            reason = f"{first.line}:{first.column}: [{first.check}] {first.message}{more}"
            result.skipped.append(Skipped(path, reason))
        elif entry.rule is not None:
            result.rules.append(dataclasses.replace(entry.rule, source=source, scope=scope))
    for path in too_many:
        reason = f"more than {limits.files} rule files in {RULES_DIR}/; this one was not read"
        result.skipped.append(Skipped(path, reason))
        result.diagnostics.append(Diagnostic(path, 1, 1, "repository-limit", reason))
    duplicates = duplicate_names(named)
    result.diagnostics.extend(duplicates)
    for problem in duplicates:
        result.skipped.append(Skipped(problem.path, problem.message))
    dropped = {d.path for d in duplicates}
    result.rules = [r for r in result.rules if r.file not in dropped]
    result.diagnostics = sort_diagnostics(result.diagnostics)
    return result


def effective_rules(
    defaults: RepositoryRules | None, own: RepositoryRules | None
) -> tuple[list[Rule], list[str]]:
    """The rules that apply to a repository: its own, plus the organisation defaults it does
    not replace (same `name`) or switch off (`disabled: true`); and what was replaced, in words."""
    notes = []
    own_rules = {r.name: r for r in (own.rules if own else [])}
    result = []
    for rule in defaults.rules if defaults else []:
        mine = own_rules.get(rule.name)
        if mine is None:
            if not rule.disabled:
                result.append(rule)
        elif mine.disabled:
            notes.append(f"default {rule.name} is switched off by {mine.file}")
        else:
            notes.append(f"default {rule.name} is replaced by {mine.file}")
    result.extend(r for r in own_rules.values() if not r.disabled)
    return sorted(result, key=lambda r: (r.name, r.file)), notes
