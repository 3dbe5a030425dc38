"""`hookwise validate` over 1,000 rule files against check-jsonschema (schema only).

Both are timed as whole commands (start-up included) on the same files in the same run;
the figure that matters is the ratio, since these machines are noisy.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import REPO, best_of, header, write_rule_corpus

FILES = 1000
RUNS = 3


def run() -> dict[str, str]:
    """Run the benchmark and print its figures."""
    header(f"validate: {FILES} rule files")
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        paths = [str(p) for p in write_rule_corpus(Path(tmp) / "rules", FILES)]
        lines = sum(len(Path(p).read_text().splitlines()) for p in paths)
        folder = str(Path(tmp) / "rules")
        hookwise = [str(bin_dir / "hookwise"), "validate", "--format", "json", folder]
        checker = [
            str(bin_dir / "check-jsonschema"),
            "--schemafile",
            str(REPO / "schemas" / "rule.schema.json"),
            *paths,
        ]

        def run_hookwise() -> None:
            done = subprocess.run(hookwise, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"hookwise validate failed:\n{done.stdout[-2000:]}{done.stderr}")

        def run_checker() -> None:
            done = subprocess.run(checker, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"check-jsonschema failed:\n{done.stdout[-2000:]}{done.stderr}")

        ours = best_of(RUNS, run_hookwise)
        theirs = best_of(RUNS, run_checker)
    ours_rate, theirs_rate = FILES / ours, FILES / theirs
    print(f"files: {FILES} ({lines / FILES:.0f} lines each on average), best of {RUNS} runs")
    print(f"hookwise validate (all checks):        {ours:6.2f} s  {ours_rate:8.0f} files/s")
    print(f"check-jsonschema (schema only):        {theirs:6.2f} s  {theirs_rate:8.0f} files/s")
    ratio = ours_rate / theirs_rate
    print(f"ratio hookwise / check-jsonschema:     {ratio:6.2f}x files/s (target >= 1.0)")
    return {
        "validate": f"validate, 1,000 files: hookwise {ours_rate:,.0f} files/s, check-jsonschema "
        f"{theirs_rate:,.0f} files/s: {ours_rate / theirs_rate:.2f}x (target >= 1.0x)"
    }


if __name__ == "__main__":
    run()
