"""The command line (`hookwise`): a function `main(argv, stdout, stderr) -> exit code`.

It owns argument parsing, reading files and the environment, and writing reports; every
decision is made by the rooms below it. It may import anything in `engine`.
"""

from __future__ import annotations

from engine.cli.main import entrypoint, main

__all__ = ["entrypoint", "main"]
