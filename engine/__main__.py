"""`python -m engine` runs the hookwise command line."""

from __future__ import annotations

from engine.cli import entrypoint

entrypoint()
