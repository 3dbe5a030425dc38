"""Wording shared by every message: close-match suggestions and the sorted list of choices.

Messages quote what was found and offer what would be valid (actionlint's habit), so every
room that words a problem (rule checks, expression checks, the command line) asks here.
"""

from __future__ import annotations

import difflib
import re
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


_SPAN_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def seconds_of(text: str) -> float:
    """Seconds in a span such as `90`, `90s`, `15m`, `1h`, `7d` or `1h30m` (settings, CLI)."""
    value = text.strip().lower()
    if re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", value):
        return float(value)
    if not value or not re.fullmatch(r"(?:[0-9]+[smhd])+", value):
        raise ValueError(f"not a duration: {text!r} (try 90s, 15m, 1h or 7d)")
    return sum(int(n) * _SPAN_UNITS[u] for n, u in re.findall(r"([0-9]+)([smhd])", value))
