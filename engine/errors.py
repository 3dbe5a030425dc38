"""The failures hookwise raises. A user's mistake in a rule is a Diagnostic, not an exception.

Every exception hookwise raises on purpose derives from HookwiseError, so the command line and
the server can tell "the input is wrong" (exit 1, a 4xx) from a bug.
"""

from __future__ import annotations


class HookwiseError(Exception):
    """Base of every failure hookwise raises (a user's mistake is a Diagnostic instead)."""


class InputError(HookwiseError):
    """The input of a command (a payload, the rules) is wrong; exit code 1."""


class UsageError(HookwiseError):
    """The command line was used wrongly; exit code 2."""
