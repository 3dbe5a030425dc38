"""Helpers shared by the benchmarks: timing and generating realistic rule files."""

from __future__ import annotations

import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def best_of(runs: int, action: Callable[[], object]) -> float:
    """The fastest of several wall-clock timings, in seconds (the least disturbed by noise)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def median(values: list[float]) -> float:
    """The median of the values."""
    return statistics.median(values)


def write_rule_corpus(folder: Path, count: int) -> list[Path]:
    """`count` rule files made from the shipped examples, each renamed (and its slash command)
    to be unique."""
    examples = sorted(p for p in (REPO / "rules").glob("*.yaml") if not p.name.endswith(".test.yaml"))
    texts = [p.read_text() for p in examples]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        text = texts[i % len(texts)]
        text = re.sub(r"^name: (\S+)", lambda m, i=i: f"name: {m.group(1)}-{i}", text, flags=re.M)
        # a slash command is answered by one rule of a rule set: each copy gets its own
        text = re.sub(r"(\n  command:\n    name: )(\S+)", lambda m, i=i: f"{m.group(1)}{m.group(2)}-{i}", text)
        path = folder / f"rule-{i:05d}.yaml"
        path.write_text(text)
        paths.append(path)
    return paths


def header(title: str) -> None:
    """Print a section title."""
    print(f"\n== {title} ==")


@contextmanager
def tree_at(commit: str) -> Iterator[Path | None]:
    """A git worktree of this repository at `commit`, removed after (None without that
    history, as in a shallow clone): "before" figures are measured in the same run."""
    folder = Path(tempfile.mkdtemp(prefix="hookwise-before-")) / "tree"
    done = subprocess.run(
        ["git", "worktree", "add", "--detach", str(folder), commit], cwd=REPO, capture_output=True
    )
    if done.returncode != 0:
        yield None
        return
    try:
        yield folder
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(folder)], cwd=REPO, capture_output=True
        )
