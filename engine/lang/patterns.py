"""GitHub Actions filter patterns and hookwise name patterns, each compiled once.

Filter patterns (branches, tags, paths) follow GitHub's "Filter pattern cheat sheet":
https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#filter-pattern-cheat-sheet
`*` never crosses `/`, `**` does, `?` and `+` quantify the preceding character, `[...]` is
one character from a set, `\\` escapes, and a leading `!` negates. Patterns are anchored and
case-sensitive. Name patterns (repositories, labels, logins) are literal text where only `*`
is special, compared case-insensitively as GitHub compares these names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RANGE_CLASSES = (("a", "z"), ("A", "Z"), ("0", "9"))


class PatternError(ValueError):
    """A pattern that cannot be compiled; the message says why."""


@dataclass(frozen=True)
class Pattern:
    """One compiled pattern: its source text, whether it negates, and its matcher."""

    source: str
    negated: bool
    regex: re.Pattern[str]

    def matches(self, subject: str) -> bool:
        """Whether the whole subject matches (ignoring the negation)."""
        return self.regex.fullmatch(subject) is not None


@dataclass(frozen=True)
class PatternList:
    """An ordered list of patterns where the last matching pattern wins."""

    patterns: tuple[Pattern, ...]

    @property
    def sources(self) -> list[str]:
        """The patterns as the user wrote them."""
        return [p.source for p in self.patterns]

    def selects(self, subject: str) -> bool:
        """Include-list semantics: start unselected, each match sets selected = not negated."""
        selected = False
        for pattern in self.patterns:
            if pattern.matches(subject):
                selected = not pattern.negated
        return selected

    @property
    def only_negations(self) -> bool:
        """True when every pattern negates, so that the list can select nothing."""
        return bool(self.patterns) and all(p.negated for p in self.patterns)

    def describe(self) -> str:
        """The list as `[a, b]` for messages."""
        return "[" + ", ".join(self.sources) + "]"


def compile_filter_pattern(text: str) -> Pattern:
    """Compile one GitHub Actions filter pattern; raise PatternError when it is invalid."""
    if text == "":
        raise PatternError("a pattern cannot be empty")
    negated = text.startswith("!")
    body = text[1:] if negated else text
    if body == "":
        raise PatternError("`!` must be followed by a pattern")
    return Pattern(text, negated, re.compile(_filter_regex(body)))


def _filter_regex(body: str) -> str:
    out: list[str] = []
    # whether the last emitted piece is something `?` or `+` may quantify
    quantifiable = False
    i, n = 0, len(body)
    while i < n:
        char = body[i]
        if char == "\\":
            if i + 1 >= n:
                raise PatternError("a trailing `\\` escapes nothing")
            out.append(re.escape(body[i + 1]))
            quantifiable = True
            i += 2
        elif char == "*":
            if i + 1 < n and body[i + 1] == "*":
                if i + 2 < n and body[i + 2] == "/":
                    out.append("(?:.*/)?")
                    i += 3
                else:
                    out.append(".*")
                    i += 2
            else:
                out.append("[^/]*")
                i += 1
            quantifiable = False
        elif char in "?+":
            if not out:
                out.append(re.escape(char))  # nothing to repeat: GitHub's peers read it literally
                quantifiable = True
            elif not quantifiable:
                raise PatternError(
                    f"`{char}` must follow a character or `[...]`, not `*` or `{char}`"
                )
            else:
                out.append(char)
                quantifiable = False
            i += 1
        elif char == "[":
            end = body.find("]", i + 1)
            if end < 0:
                raise PatternError(f"`[` at position {i + 1} is never closed with `]`")
            out.append(_character_class(body[i + 1 : end]))
            quantifiable = True
            i = end + 1
        else:
            out.append(re.escape(char))
            quantifiable = True
            i += 1
    return "".join(out)


def _character_class(inner: str) -> str:
    if inner == "":
        raise PatternError("`[]` is an empty character set")
    parts: list[str] = []
    i = 0
    while i < len(inner):
        if i + 2 < len(inner) and inner[i + 1] == "-":
            low, high = inner[i], inner[i + 2]
            if not any(a <= low <= high <= b for a, b in _RANGE_CLASSES):
                raise PatternError(
                    f"range `{low}-{high}` is not allowed; ranges are a-z, A-Z or 0-9"
                )
            parts.append(f"{re.escape(low)}-{re.escape(high)}")
            i += 3
        else:
            parts.append(re.escape(inner[i]))
            i += 1
    return "[" + "".join(parts) + "]"


def compile_name_pattern(text: str, *, crosses_slash: bool = True) -> Pattern:
    """Compile a name pattern: literal but for `*`, case-insensitive, `!` to exclude."""
    if text == "":
        raise PatternError("a pattern cannot be empty")
    negated = text.startswith("!")
    body = text[1:] if negated else text
    if body == "":
        raise PatternError("`!` must be followed by a pattern")
    star = ".*" if crosses_slash else "[^/]*"
    regex = star.join(re.escape(part) for part in body.split("*"))
    return Pattern(text, negated, re.compile(regex, re.IGNORECASE))


def is_literal_name(text: str) -> bool:
    """True for a name pattern that matches exactly one name (no `*`, no `!`)."""
    return "*" not in text and not text.startswith("!")


def ignores(patterns: PatternList, subject: str) -> bool:
    """Ignore-list semantics: the subject is ignored when the last matching pattern says so.

    `!` in an ignore list is undocumented by GitHub; we apply the same last-match-wins rule
    as include lists, so `['docs/**', '!docs/api/**']` ignores docs but not docs/api.
    """
    return patterns.selects(subject)


# what a regular expression has and a glob never needs: anchors, groups with alternation,
# negated classes, escapes such as \d and \w (not `.*`: GitHub's own docs write `v1.*`)
_REGEX_SIGNS = re.compile(r"^\^|(?<!\\)\$$|\(.*\|.*\)|\[\^|\\[dwsDWS]|\(\?")
_GROUP = re.compile(r"\(([^()]*\|[^()]*)\)")


def regex_lookalike(text: str) -> list[str] | None:
    """The glob(s) probably meant when a filter pattern reads as a regular expression, or
    None when it does not. GitHub's patterns are globs: `^`, `$`, `(`, `|` are literal."""
    body = text[1:] if text.startswith("!") else text
    if not _REGEX_SIGNS.search(body):
        return None
    glob = re.sub(r"\(\?[a-zA-Z]+\)", "", body).removeprefix("^")  # inline flags: (?i)
    if glob.endswith("$") and not glob.endswith("\\$"):
        glob = glob[:-1]
    glob = re.sub(r"\[\^[^\]]*\][*+?]?", "*", glob)  # a negated class: anything
    glob = re.sub(r"\\[dwsDWS][*+]?", "*", glob)
    glob = re.sub(r"(?<!\\)\.[*+]", "**", glob)
    glob = re.sub(r"\\(.)", r"\1", glob)
    globs = [glob]
    while any(_GROUP.search(g) for g in globs) and len(globs) <= 8:
        expanded = []
        for g in globs:
            found = _GROUP.search(g)
            if found is None:
                expanded.append(g)
                continue
            expanded.extend(
                g[: found.start()] + choice + g[found.end() :] for choice in found.group(1).split("|")
            )
        globs = expanded
    prefix = "!" if text.startswith("!") else ""
    return [prefix + re.sub(r"\*{3,}", "**", g) for g in dict.fromkeys(globs)]
