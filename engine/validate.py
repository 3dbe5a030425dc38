"""Checking rule sources: every problem in every file, sorted, with ignores applied. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from engine.compile import compile_document
from engine.diagnostics import Diagnostic, sort_diagnostics
from engine.model import Rule
from engine.registry import Registry, builtin_registry
from engine.schema import rule_validator
from engine.source import Document, decode, load_document


@dataclass
class ValidationResult:
    """The outcome of checking a set of rule files."""

    files: int = 0
    rules: list[Rule] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    documents: dict[str, Document] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no file has a problem."""
        return not self.diagnostics


def check_source(
    raw: bytes, path: str, registry: Registry | None = None
) -> tuple[Rule | None, Document | None, list[Diagnostic]]:
    """Check one rule file's bytes: the compiled rule (if clean), the document and problems."""
    registry = registry or builtin_registry()
    text, problem = decode(raw, path)
    if text is None:
        assert problem is not None
        return None, None, [problem]
    doc = load_document(text, path)
    rule, diagnostics = compile_document(doc, registry, rule_validator())
    return rule, doc, _apply_ignores(diagnostics, doc)


def validate_sources(
    sources: Iterable[tuple[str, bytes]], registry: Registry | None = None
) -> ValidationResult:
    """Check many files (path, bytes) and the rules across them (unique names)."""
    registry = registry or builtin_registry()
    result = ValidationResult()
    for path, raw in sources:
        result.files += 1
        rule, doc, diagnostics = check_source(raw, path, registry)
        if doc is not None:
            result.documents[path] = doc
        result.diagnostics.extend(diagnostics)
        if rule is not None:
            result.rules.append(rule)
    result.diagnostics.extend(_duplicate_names(result))
    result.diagnostics = sort_diagnostics(result.diagnostics)
    result.rules.sort(key=lambda r: (r.name, r.file))
    if result.diagnostics:
        bad = {d.path for d in result.diagnostics}
        result.rules = [r for r in result.rules if r.file not in bad]
    return result


def _duplicate_names(result: ValidationResult) -> list[Diagnostic]:
    first: dict[str, Rule] = {}
    problems = []
    for rule in sorted(result.rules, key=lambda r: r.file):
        earlier = first.setdefault(rule.name, rule)
        if earlier is rule:
            continue
        doc = result.documents[rule.file]
        pos = doc.source_map.value(("name",))
        diagnostic = Diagnostic(
            rule.file,
            pos.line,
            pos.column,
            "duplicate-rule-name",
            f'rule name "{rule.name}" is already used by {earlier.file}',
        )
        problems.extend(_apply_ignores([diagnostic], doc))
    return problems


def _apply_ignores(diagnostics: list[Diagnostic], doc: Document) -> list[Diagnostic]:
    if not doc.ignores:
        return diagnostics
    return [d for d in diagnostics if d.check not in doc.ignores.get(d.line, frozenset())]
