"""hookwise: a declarative workflow rules engine for GitHub.

The public API is re-exported here; the subpackages hold the logic (docs/architecture.md):
`lang` (rule files), `expr` (`${{ }}`), `match` (events and matching), `run` (the graph),
`nodes` (node types), `github` (the REST client), `store` (the database), `server` (the
webhook server) and `cli` (the command line).
"""

from __future__ import annotations

from importlib import metadata

try:  # one source for the version: the package metadata (pyproject.toml)
    __version__ = metadata.version("hookwise")
except metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

from engine.lang.diagnostics import CHECKS, Diagnostic
from engine.lang.files import RuleSet, load_rules, validate_paths
from engine.lang.validate import check_source

__all__ = [
    "CHECKS",
    "Diagnostic",
    "RuleSet",
    "__version__",
    "check_source",
    "load_rules",
    "validate_paths",
]
