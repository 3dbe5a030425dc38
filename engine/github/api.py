"""The GitHub seam: the calls a node may make (GitHubAPI) and the errors GitHub's answers become.

GitHub's failures are classified once, here, as the client raises them: RateLimited (wait
`wait` seconds, then try again; never a missing permission), Forbidden (a permission the App
lacks), NotFound, ServerError (try again later), and GitHubError for the other answers.

Nodes, the executor and the changed-files fetch depend on this protocol, never on httpx; the
one implementation is engine.github.client, and tests use the shared double behind it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from engine.errors import HookwiseError


class GitHubAPI(Protocol):
    """The GitHub calls a node may make, bound to the event's installation."""

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
        """One REST call; returns the decoded body (None for a planned dry-run write);
        `on_status` hears the HTTP status of the answer."""
        ...

    async def paginate(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        limit: int | None = None,
        on_status: Callable[[int], None] | None = None,
    ) -> list[Any]:
        """Every item of a paginated list (following the Link header)."""
        ...


class ConfigError(HookwiseError):
    """The App credentials are missing or malformed (a start-up error)."""


class GitHubError(HookwiseError):
    """GitHub answered with an error; carries the status and GitHub's message."""

    def __init__(self, status: int, message: str, *, method: str = "", path: str = "") -> None:
        super().__init__(f"GitHub {status} on {method} {path}: {message}")
        self.status = status
        self.message = message
        self.method = method
        self.path = path


class NotFound(GitHubError):
    """404: the resource does not exist or the App cannot see it."""


class Forbidden(GitHubError):
    """403 that is no rate limit: a permission the App (or its token) was not given."""


class RateLimited(GitHubError):
    """A rate limit whose reset lies beyond the deadline; `wait`: seconds until it passes."""

    def __init__(
        self, status: int, message: str, *, method: str = "", path: str = "", wait: float = 60.0
    ) -> None:
        super().__init__(status, message, method=method, path=path)
        self.wait = wait


class ServerError(GitHubError):
    """5xx after the retries ran out."""


def retryable(exc: GitHubError) -> bool:
    """Whether trying again later may succeed: 5xx, a rate limit, the network (status 0)."""
    return isinstance(exc, ServerError | RateLimited) or exc.status == 0
