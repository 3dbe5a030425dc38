"""Wording shared by every message: close-match suggestions and the sorted list of choices.

Messages quote what was found and offer what would be valid (actionlint's habit), so every
room that words a problem (rule checks, expression checks, the command line) asks here.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def suggest(word: str, choices: Iterable[str]) -> str:
    """`; did you mean "x"?` for a close choice, else `; valid: a, b, c` (sorted)."""
    options = sorted(set(choices))
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f'; did you mean "{close[0]}"?'
    if not options:
        return ""
    return "; valid: " + ", ".join(options)
