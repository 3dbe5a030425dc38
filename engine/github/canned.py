"""Canned GitHub answers: a GitHubAPI that answers read requests from a list written by hand,
so a rule that reads GitHub can be tried and tested offline (`hookwise test`, `run --answers`).

An answer names a method and a path (and, optionally, query parameters that must match) and
gives GitHub's status and body. A request with no answer fails the node loudly, naming the
request and the answers there are: a test must not pass on a read it never meant to make.
Writes never reach this API: they run in dry-run and are recorded as planned.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.errors import InputError
from engine.github.api import Forbidden, GitHubError, NotFound, ServerError

METHODS = ("GET", "HEAD")
MEDIA = ("diff", "patch")  # `accept:` of an answer: GitHub's diff and patch media types


def media_of(accept: str | None) -> str | None:
    """The media an Accept header asks for: "diff", "patch", or None for GitHub's JSON."""
    if accept is None:
        return None
    return next((m for m in MEDIA if accept.endswith(f".{m}") or accept == m), None)


@dataclass(frozen=True)
class CannedAnswer:
    """GitHub's answer to one read request."""

    method: str
    path: str
    body: Any = None
    status: int = 200
    params: Mapping[str, str] = field(default_factory=dict)
    accept: str | None = None  # "diff" or "patch": the answer to that media type only

    def answers(
        self, method: str, path: str, params: Mapping[str, Any] | None, accept: str | None = None
    ) -> bool:
        """Whether this answer is for that request."""
        if method != self.method or path.split("?", 1)[0] != self.path:
            return False
        if self.accept != media_of(accept):
            return False
        given = {k: str(v) for k, v in (params or {}).items()}
        return all(given.get(k) == v for k, v in self.params.items())


def parse_answers(data: Any, where: str) -> list[CannedAnswer]:
    """Answers from their written form: a list of {request: "GET /path", status, body, params}."""
    if not isinstance(data, list):
        raise InputError(f"{where}: answers are a list of {{request: 'GET /path', body: ...}}")
    answers = []
    for index, item in enumerate(data):
        at = f"{where}[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("request"), str):
            raise InputError(f"{at}: an answer needs `request: GET /path`")
        unknown = sorted(set(item) - {"request", "status", "body", "params", "accept"})
        if unknown:
            raise InputError(
                f"{at}: unknown key {unknown[0]!r}; an answer has request, status, body, params, "
                "accept"
            )
        accept = item.get("accept")
        if accept is not None and accept not in MEDIA:
            raise InputError(f"{at}: accept {accept!r} must be one of: {', '.join(MEDIA)}")
        method, _, path = item["request"].strip().partition(" ")
        method = method.upper()
        if method not in METHODS or not path.strip().startswith("/"):
            raise InputError(
                f"{at}: request {item['request']!r} must be `GET /path` (answers are for reads; "
                "writes are planned, not sent)"
            )
        status = item.get("status", 200)
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise InputError(f"{at}: status must be an HTTP status, found {status!r}")
        params = item.get("params") or {}
        if not isinstance(params, dict):
            raise InputError(f"{at}: params must be a mapping")
        answers.append(
            CannedAnswer(
                method,
                path.strip(),
                item.get("body"),
                status,
                {str(k): str(v) for k, v in params.items()},
                accept,
            )
        )
    return answers


class CannedGitHub:
    """A GitHubAPI answering from canned answers; `asked` lists what was requested."""

    def __init__(self, answers: list[CannedAnswer]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, str]] = []

    def _answer(
        self, method: str, path: str, params: Mapping[str, Any] | None, accept: str | None = None
    ) -> Any:
        self.asked.append((method, path))
        for answer in self.answers:
            if answer.answers(method, path, params, accept):
                if answer.status >= 400:
                    raise _error(answer, method, path)
                return answer.body
        known = ", ".join(
            f"{a.method} {a.path}" + (f" ({a.accept})" if a.accept else "") for a in self.answers
        ) or "none"
        media = media_of(accept)
        asked = f"{method} {path}" + (f" (accept: {media})" if media else "")
        raise GitHubError(
            404, f"no canned answer for {asked} (answers given: {known})",
            method=method, path=path,
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        accept: str | None = None,
        on_status: Callable[[int], None] | None = None,
    ) -> Any:
        """The canned body of a read; a write is refused (writes are planned in dry-run)."""
        method = method.upper()
        if method not in METHODS:
            raise GitHubError(
                0, f"canned answers serve reads only, not {method}", method=method, path=path
            )
        result = self._answer(method, path, params, accept)
        if on_status is not None:
            on_status(200)
        return result

    async def paginate(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        limit: int | None = None,
        on_status: Callable[[int], None] | None = None,
    ) -> list[Any]:
        """The canned list (every page at once), cut at `limit`."""
        items = self._answer("GET", path, params)
        if not isinstance(items, list):
            raise GitHubError(
                200, f"the canned answer for GET {path} must be a list", method="GET", path=path
            )
        if on_status is not None:
            on_status(200)
        return items[:limit] if limit is not None else list(items)


def _error(answer: CannedAnswer, method: str, path: str) -> GitHubError:
    message = answer.body.get("message") if isinstance(answer.body, dict) else None
    text = str(message or f"canned {answer.status}")
    kind: type[GitHubError] = GitHubError
    if answer.status == 404:
        kind = NotFound
    elif answer.status == 403:
        kind = Forbidden
    elif answer.status >= 500:
        kind = ServerError
    return kind(answer.status, text, method=method, path=path)
