"""Regenerate docs/checks.md from diagnostics.CHECKS and the golden error corpus."""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from engine.lang.diagnostics import CHECKS  # noqa: E402

RULES = REPO / "tests" / "data" / "rules"
LINE = re.compile(r"^\S+:\d+:\d+: (?:error|warning) \[([a-z0-9-]+)\] (.*)$", re.M)


def main() -> None:
    """Write docs/checks.md: each check, what it means, and an example message."""
    examples: dict[str, tuple[str, str]] = {}
    for out in sorted([*RULES.glob("err/*.out"), *RULES.glob("warn/*.out")]):
        for check, message in LINE.findall(out.read_text()):
            examples.setdefault(check, (f"{out.parent.name}/{out.stem}", message))
    lines = [
        "# Checks of `hookwise validate`",
        "",
        "Every problem carries one of these stable check ids. Silence a check on one line with a",
        "comment at the end of that line: `# hookwise: ignore=CHECK[,CHECK]`. Each id has at least one",
        "example case under `tests/data/rules/err/` (or `warn/` for warnings, which do not fail",
        "validation) whose expected output sits beside it.",
        "",
        "One mistake is one problem, not its cascade: a misspelt required key is reported as the",
        "unknown key with its \"did you mean\" (not also as the required key missing); a value whose",
        "YAML tag is refused is not also reported as the wrong type; a node that needs an unknown node",
        "is not also reported for reading that node's outputs; a `types:` or filter dedented under",
        "`events:` is one `unknown-event` with \"indent it under ...\"; a node whose body lost its",
        "indentation is one problem (`tests/data/rules/err/cascade-*`).",
        "",
    ]
    for check, meaning in CHECKS.items():
        case, message = examples[check]
        lines += [f"## {check}", "", meaning[0].upper() + meaning[1:] + ".", ""]
        lines += [f"Example (`tests/data/rules/{case}`):", "", "```", message, "```", ""]
    (REPO / "docs" / "checks.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
