"""`make bench`: every benchmark, each printing its figures as ratios to a same-run baseline
(or against the absolute target its issue names)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (
    calls_bench,
    conditions_bench,
    graph_bench,
    ingest_bench,
    pipeline_bench,
    rules_bench,
    validate_bench,
    workers_bench,
)

BENCHMARKS = {
    "validate": validate_bench.run,
    "rules": rules_bench.run,
    "conditions": conditions_bench.run,
    "graph": graph_bench.run,
    "ingest": ingest_bench.run,
    "pipeline": pipeline_bench.run,
    "calls": calls_bench.run,
    "workers": workers_bench.run,
}


def main(argv: list[str]) -> int:
    """Run the named benchmarks (all by default)."""
    names = argv or list(BENCHMARKS)
    for name in names:
        if name not in BENCHMARKS:
            print(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
            return 2
        BENCHMARKS[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
