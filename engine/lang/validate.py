"""Checking rule sources: every problem in every file, sorted, with ignores applied. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from engine.declarations.builtin import declared_registry
from engine.declarations.registry import Registry
from engine.lang.cache import Entry
from engine.lang.compile import compile_document
from engine.lang.diagnostics import CHECKS, Diagnostic, sort_diagnostics
from engine.lang.model import Rule
from engine.lang.repository_limits import repository_file_problems
from engine.lang.schema import rule_validator
from engine.lang.source import Document, decode, load_document
from engine.text import suggest


@dataclass
class ValidationResult:
    """The outcome of checking a set of rule files."""

    files: int = 0
    rules: list[Rule] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    documents: dict[str, Document] = field(default_factory=dict)

    @property
    def errors(self) -> list[Diagnostic]:
        """The problems that fail validation (warnings do not)."""
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def ok(self) -> bool:
        """True when no file has an error."""
        return not self.errors


def check_source(
    raw: bytes, path: str, registry: Registry | None = None
) -> tuple[Rule | None, Document | None, list[Diagnostic]]:
    """Check one rule file's bytes: the compiled rule (if clean), the document and problems."""
    registry = registry or declared_registry()
    text, problem = decode(raw, path)
    if text is None:
        assert problem is not None
        return None, None, [problem]
    doc = load_document(text, path)
    rule, diagnostics = compile_document(doc, registry, rule_validator())
    kept = _apply_ignores(diagnostics, doc)
    if any(d.severity == "error" for d in kept):
        rule = None
    return rule, doc, kept


def validate_sources(
    sources: Iterable[tuple[str, bytes]], registry: Registry | None = None
) -> ValidationResult:
    """Check many files (path, bytes) and the rules across them (unique names)."""
    registry = registry or declared_registry()
    result = ValidationResult()
    named = []
    for path, raw in sources:
        result.files += 1
        rule, doc, diagnostics = check_source(raw, path, registry)
        limited = repository_file_problems(path, raw)
        if limited:
            diagnostics = [*diagnostics, *limited]
            rule = None
        if doc is not None:
            result.documents[path] = doc
        result.diagnostics.extend(diagnostics)
        if rule is not None:
            result.rules.append(rule)
        if doc is not None and isinstance(doc.data, dict):
            named.append((path, _named(doc)))
    result.diagnostics.extend(duplicate_names(named))
    result.diagnostics.extend(duplicate_commands(result))
    result.diagnostics = sort_diagnostics(result.diagnostics)
    result.rules.sort(key=lambda r: (r.name, r.file))
    bad = {d.path for d in result.diagnostics if d.severity == "error"}
    if bad:
        result.rules = [r for r in result.rules if r.file not in bad]
    return result


def check_entry(raw: bytes, path: str, registry: Registry) -> Entry:
    """Check one file into a cacheable entry: rule, problems, and its name with position."""
    rule, doc, diagnostics = check_source(raw, path, registry)
    name, at, ignores = None, (1, 1), frozenset[str]()
    if doc is not None and isinstance(doc.data, dict) and isinstance(doc.data.get("name"), str):
        pos = doc.source_map.value(("name",))
        name, at = doc.data["name"], (pos.line, pos.column)
        ignores = doc.ignores.get(pos.line, frozenset())
    return Entry(rule, tuple(diagnostics), name, at, ignores)


def duplicate_names(named: Iterable[tuple[str, Entry]]) -> list[Diagnostic]:
    """A name used by two files, reported at the later file's `name` (even if it has errors)."""
    first: dict[str, str] = {}
    problems = []
    for path, entry in sorted(named, key=lambda item: item[0]):
        if entry.name is None:
            continue
        earlier = first.setdefault(entry.name, path)
        if earlier == path or "duplicate-rule-name" in entry.name_ignores:
            continue
        problems.append(
            Diagnostic(
                path,
                entry.name_at[0],
                entry.name_at[1],
                "duplicate-rule-name",
                f'rule name "{entry.name}" is already used by {earlier}',
            )
        )
    return problems


def duplicate_commands(result: ValidationResult) -> list[Diagnostic]:
    """Two rules answering the same slash command, reported at the later file's command name
    (one comment would run both, each with its own acknowledgement)."""
    first: dict[str, str] = {}
    problems = []
    for rule in sorted(result.rules, key=lambda r: r.file):
        if rule.command is None:
            continue
        earlier = first.setdefault(rule.command.name, rule.file)
        doc = result.documents.get(rule.file)
        if earlier == rule.file or doc is None:
            continue
        pos = doc.source_map.value(("on", "command", "name"))
        problems.append(
            Diagnostic(
                rule.file, pos.line, pos.column, "duplicate-command",
                f'the command /{rule.command.name} is already answered by {earlier}; one rule '
                "per command (use the command's args, or if:, to do different things)",
            )
        )
    return problems


def _named(doc: Document) -> Entry:
    name = doc.data.get("name") if isinstance(doc.data, dict) else None
    pos = doc.source_map.value(("name",))
    return Entry(
        None,
        (),
        name if isinstance(name, str) else None,
        (pos.line, pos.column),
        doc.ignores.get(pos.line, frozenset()),
    )


def _apply_ignores(diagnostics: list[Diagnostic], doc: Document) -> list[Diagnostic]:
    if not doc.ignores:
        return diagnostics
    kept = [d for d in diagnostics if d.check not in doc.ignores.get(d.line, frozenset())]
    return kept + _unknown_ignores(doc)


def _unknown_ignores(doc: Document) -> list[Diagnostic]:
    """An ignore comment naming a check that does not exist silences nothing: say so."""
    problems = []
    lines = doc.lines
    for number, names in sorted(doc.ignores.items()):
        line = lines[number - 1] if 0 < number <= len(lines) else ""
        for name in sorted(names - set(CHECKS)):
            column = line.rfind(name) + 1 or 1
            problems.append(
                Diagnostic(
                    doc.path,
                    number,
                    column,
                    "unknown-ignore",
                    f'ignore comment names unknown check "{name}"{suggest(name, CHECKS)}',
                    "warning",
                )
            )
    return problems
