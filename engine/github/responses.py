"""GitHub's answers as data, sans I/O: (status, headers, body) -> the decoded body, or the
typed error it means (engine.github.api). The body is decoded once, here; the client only
moves bytes and decides when to wait and try again."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.github.api import Forbidden, GitHubError, NotFound, ServerError


@dataclass(frozen=True)
class Answer:
    """One decoded answer: its status, its body (JSON, text, or None when empty) and, for an
    error, GitHub's message."""

    status: int
    data: Any
    message: str


def read_answer(status: int, headers: Mapping[str, str], body: bytes, reason: str = "") -> Answer:
    """Decode a body once: JSON when the content type says so, else text."""
    data: Any = None
    if body and status != 204:
        if "json" in headers.get("content-type", ""):
            try:  # json, not orjson: orjson turns integers past 64 bits into floats
                data = json.loads(body)
            except ValueError:
                data = body.decode("utf-8", "replace")
        else:
            data = body.decode("utf-8", "replace")
    message = ""
    if status >= 400:
        if isinstance(data, dict) and data.get("message"):
            message = str(data["message"])
        elif isinstance(data, str) and data:
            message = data[:200]
        else:
            message = reason
    return Answer(status, data, message)


def error_of(answer: Answer, *, method: str, path: str) -> GitHubError | None:
    """The typed error an answer means (None for a success). A rate limit is decided before
    this, by the client, since it says how long to wait."""
    status, message = answer.status, answer.message
    if status < 400:
        return None
    kind: type[GitHubError] = GitHubError
    if status >= 500:
        kind = ServerError
    elif status == 404:
        kind = NotFound
    elif status == 403:
        kind = Forbidden
    return kind(status, message, method=method, path=path)
