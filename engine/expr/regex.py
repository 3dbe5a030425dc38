"""Regular expressions for `matches()`: RE2, whose matching time is linear in the text.

Python's `re` backtracks, so a pattern such as `(a+)+$` over a long text can hang a worker;
a rule must not be able to do that. RE2 (https://github.com/google/re2/wiki/Syntax) has no
backreferences or lookaround and guarantees time linear in the input. Compiled patterns
are cached; a pattern is also limited in size so that compiling it stays cheap.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

MAX_PATTERN = 1_000  # characters in one pattern
MAX_PROGRAM_MEMORY = 8 << 20  # bytes RE2 may use for one compiled pattern
# RE2's time is linear in the text, but its constant grows with the compiled program: past
# about a thousand instructions its DFA cache thrashes (`(\w|\W){1000}x` spends a second on
# 64 KB). At this size a megabyte is searched in milliseconds.
MAX_PROGRAM = 1_000


class RegexError(ValueError):
    """A pattern RE2 cannot compile; the message says why in RE2's words."""


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print to stderr; we report it ourselves
    options.max_mem = MAX_PROGRAM_MEMORY
    return options


@lru_cache(maxsize=512)
def compile_regex(pattern: str) -> Any:
    """The compiled RE2 pattern (raises RegexError with RE2's reason)."""
    if len(pattern) > MAX_PATTERN:
        raise RegexError(f"the pattern is longer than {MAX_PATTERN} characters")
    try:
        compiled = re2.compile(pattern, _options())
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid pattern"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise RegexError(str(reason)) from None
    if compiled.programsize > MAX_PROGRAM:
        raise RegexError(
            f"the pattern compiles to {compiled.programsize:,} instructions, more than "
            f"{MAX_PROGRAM:,}; large counted repetitions such as {{1000}} are the usual cause"
        )
    return compiled


def regex_search(text: str, pattern: str) -> bool:
    """Whether `pattern` matches anywhere in `text` (anchor with ^ and $ for the whole)."""
    return compile_regex(pattern).search(text) is not None
