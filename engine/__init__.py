"""hookwise: a declarative workflow rules engine for GitHub.

The public API is re-exported here; the modules hold the logic.
"""

from __future__ import annotations

from engine.diagnostics import CHECKS, Diagnostic
from engine.ruleset import RuleSet, load_rules, validate_paths
from engine.validate import check_source

__all__ = ["CHECKS", "Diagnostic", "RuleSet", "check_source", "load_rules", "validate_paths"]
__version__ = "0.1.0"
