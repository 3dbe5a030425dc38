"""Reading the facts of a webhook payload with type and range checks. Pure.

GitHub's payloads have a documented shape; a payload that breaks it where hookwise reads
(a repository name that is a list, a commit list that is a number, an installation id past
64 bits) is refused as a whole, with the field and what was wrong, before anything is stored.
Fields hookwise does not read are never checked: they only reach rules through expressions,
whose evaluator takes any JSON value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from engine.errors import InputError

MAX_ID = 2**63 - 1  # GitHub's ids fit a signed 64-bit integer, as the database's columns do
MAX_TEXT = 10_000  # names, refs, logins, labels: far longer than any GitHub allows


class PayloadError(InputError):
    """A payload field hookwise reads has the wrong type or an impossible value."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"payload field {field} {problem}")
        self.field = field


def kind_of(value: Any) -> str:
    """A JSON value's kind, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


@cache
def _split(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


class Reader:
    """Typed access to a payload: each method returns the value at a dotted path, None when it
    is absent or null, and raises PayloadError when it is there with another type."""

    def __init__(self, payload: Mapping[str, Any]) -> None:
        self.payload = payload

    def _at(self, path: str) -> Any:
        current: Any = self.payload
        for part in _split(path):
            if current is None:
                return None
            if type(current) is not dict and not isinstance(current, Mapping):
                walked = path[: path.index(part)].rstrip(".")
                raise PayloadError(walked, f"must be an object, found {kind_of(current)}")
            current = current.get(part)
        return current

    def mapping(self, path: str) -> Mapping[str, Any] | None:
        """An object, or None."""
        value = self._at(path)
        if value is None or type(value) is dict or isinstance(value, Mapping):
            return value
        raise PayloadError(path, f"must be an object, found {kind_of(value)}")

    def text(self, path: str) -> str | None:
        """A string of sane length, or None."""
        value = self._at(path)
        if value is None:
            return None
        if not isinstance(value, str):
            raise PayloadError(path, f"must be a string, found {kind_of(value)}")
        if len(value) > MAX_TEXT:
            raise PayloadError(path, f"is longer than {MAX_TEXT} characters")
        if "\x00" in value:  # GitHub never sends one; PostgreSQL text cannot hold one
            raise PayloadError(path, "contains a NUL character")
        return value

    def integer(self, path: str, *, low: int = 0, high: int = MAX_ID) -> int | None:
        """A whole number within [low, high], or None."""
        value = self._at(path)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise PayloadError(path, f"must be a whole number, found {kind_of(value)}")
        if not low <= value <= high:
            raise PayloadError(path, f"must be between {low} and {high}")
        return value

    def boolean(self, path: str) -> bool | None:
        """true or false, or None."""
        value = self._at(path)
        if value is None or isinstance(value, bool):
            return value
        raise PayloadError(path, f"must be true or false, found {kind_of(value)}")

    def items(self, path: str) -> Sequence[Any]:
        """A list (empty when absent)."""
        value = self._at(path)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise PayloadError(path, f"must be a list, found {kind_of(value)}")
        return value

    def login(self, path: str) -> str | None:
        """The `login` of the user object at a path."""
        return self.text(f"{path}.login") if self.mapping(path) is not None else None

    def names(self, path: str) -> tuple[str, ...]:
        """The `name` of each object in a list (labels)."""
        found = []
        for index, item in enumerate(self.items(path)):
            if not isinstance(item, Mapping):
                raise PayloadError(f"{path}[{index}]", f"must be an object, found {kind_of(item)}")
            name = Reader(item).text("name")
            if name is not None:
                found.append(name)
        return tuple(found)

    def strings(self, path: str, where: str) -> tuple[str, ...]:
        """A list of strings (commit file lists); `where` names it in messages."""
        found = []
        for index, item in enumerate(self.items(path)):
            if not isinstance(item, str):
                raise PayloadError(f"{where}[{index}]", f"must be a string, found {kind_of(item)}")
            found.append(item)
        return tuple(found)


def repository_name(reader: Reader) -> str | None:
    """`repository.full_name`, which must read `owner/name`."""
    name = reader.text("repository.full_name")
    if name is not None and (name.count("/") != 1 or name.startswith("/") or name.endswith("/")):
        raise PayloadError("repository.full_name", f"must read owner/name, found {name[:100]!r}")
    return name
