"""`matches()` on a pathological pattern: `(a+)+$` over 50,000 characters that do not match.

A backtracking engine (Python's `re`) takes time exponential in the text on this pattern; RE2
is linear. The figure is hookwise's whole expression evaluation (parse once, evaluate through
the evaluator, as a rule's `if:` is), best of 5; the target is at most 50 ms. Python's `re`
on only 24 characters is printed beside it, for scale.
"""

from __future__ import annotations

import re
import time

from bench.common import best_of, header
from engine.expr.evaluate import evaluate
from engine.expr.parse import parse

LENGTH = 50_000
TARGET_MS = 50.0
BACKTRACKING_LENGTH = 24


CASES = [
    ("(a+)+$", "a" * LENGTH + "b"),  # the case; no match: every split is a dead end
    ("(x+x+)+y", "x" * LENGTH),  # unanchored: the whole text must be scanned
    ("^(a|a)*$", "a" * LENGTH + "!"),  # ambiguous alternation
]


def run() -> dict[str, str]:
    """Time the pathological matches and print the figures against their target."""
    header(f"matches(): pathological patterns over {LENGTH:,} characters (RE2)")
    lines = {}
    for pattern, text in CASES:
        expr = parse(f"matches(vars.text, '{pattern}')")
        contexts = {"vars": {"text": text}}
        assert evaluate(expr, contexts) is False
        seconds = best_of(5, lambda e=expr, c=contexts: evaluate(e, c))
        verdict = "met" if seconds * 1000 <= TARGET_MS else "NOT met"
        line = (
            f"matches() {pattern:<10} {LENGTH:,} chars: {seconds * 1000:8.3f} ms "
            f"(target <= {TARGET_MS:.0f} ms: {verdict})"
        )
        print(line)
        lines[f"matches {pattern}"] = line
    short = "a" * BACKTRACKING_LENGTH + "b"
    started = time.perf_counter()
    assert re.search(r"(a+)+$", short) is None
    backtracking = time.perf_counter() - started
    print(
        f"for scale, Python re (backtracking) on (a+)+$ over only {BACKTRACKING_LENGTH} chars: "
        f"{backtracking * 1000:8.1f} ms (doubles with each character)"
    )
    return lines
